// Reading what a Windows binary says about itself, for the package checks: the machine it is built for, and
// for a .NET assembly the CLR version in its metadata header (ECMA-335 II.24.2.1). No Windows needed.

function peHeader(bytes: Buffer): number {
  if (bytes.readUInt16LE(0) !== 0x5a4d) throw new Error('not a PE file (no MZ)');
  const pe = bytes.readUInt32LE(0x3c);
  if (bytes.readUInt32LE(pe) !== 0x00004550) throw new Error('not a PE file (no PE signature)');
  return pe;
}

export function peMachine(bytes: Buffer): 'x64' | 'x86' | 'arm64' | string {
  const machine = bytes.readUInt16LE(peHeader(bytes) + 4);
  return ({ 0x8664: 'x64', 0x14c: 'x86', 0xaa64: 'arm64' } as Record<number, string>)[machine] ?? machine.toString(16);
}

/** The CLR version string a .NET assembly was built against ("v2.0.50727", "v4.0.30319"), or null for native code. */
export function clrRuntimeVersion(bytes: Buffer): string | null {
  const pe = peHeader(bytes);
  const optional = pe + 24;
  const magic = bytes.readUInt16LE(optional);
  const dataDirs = optional + (magic === 0x20b ? 112 : 96);
  const cliRva = bytes.readUInt32LE(dataDirs + 14 * 8); // entry 14: the CLI header
  if (!cliRva) return null;
  const sections = optional + bytes.readUInt16LE(pe + 20);
  const count = bytes.readUInt16LE(pe + 6);
  const toOffset = (rva: number): number => {
    for (let i = 0; i < count; i++) {
      const s = sections + i * 40;
      const va = bytes.readUInt32LE(s + 12);
      const size = Math.max(bytes.readUInt32LE(s + 8), bytes.readUInt32LE(s + 16));
      if (rva >= va && rva < va + size) return rva - va + bytes.readUInt32LE(s + 20);
    }
    throw new Error(`RVA ${rva.toString(16)} is in no section`);
  };
  const cli = toOffset(cliRva);
  const metadata = toOffset(bytes.readUInt32LE(cli + 8));
  if (bytes.readUInt32LE(metadata) !== 0x424a5342) throw new Error('no metadata root (BSJB)');
  const length = bytes.readUInt32LE(metadata + 12);
  return bytes.subarray(metadata + 16, metadata + 16 + length).toString('latin1').replace(/\0+$/, '');
}

/** The runtimes an .exe.config lets the assembly run on (<supportedRuntime version="..."/>). */
export function supportedRuntimes(config: string): string[] {
  return [...config.matchAll(/<supportedRuntime\s+version="([^"]+)"/g)].map((m) => m[1]!);
}
