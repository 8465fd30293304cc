// Waiting for something with a time limit (a stop budget, a start-up delay). The timer is cleared as soon as the
// wait ends and never keeps the process alive on its own: a wait that ended early leaves no timeout pending.
export async function waitAtMost(ms: number, ...waits: Array<Promise<unknown>>): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([...waits, new Promise<void>((resolve) => { timer = setTimeout(resolve, ms); timer.unref(); })]);
  } finally {
    clearTimeout(timer);
  }
}
