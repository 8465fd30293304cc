/*
 * rmagent's MSI custom action (64-bit DLL, deferred, as LocalSystem): runs `rmagent.exe enroll ... --token-file -`
 * and writes the enrollment token to its standard input, so the token is never on a command line (which any
 * local user can list) nor in the MSI log (the action's data is hidden: MsiHiddenProperties + HideTarget).
 *
 * CustomActionData (set by the immediate action of the same name): "<token>\t<command line>" (a tab: a token never
 * holds one) where the command line starts with the quoted path of rmagent.exe and holds no secret. An empty token
 * (ENROLL_TOKEN_FILE given instead) writes nothing: the command line then names the file. Returns ERROR_SUCCESS when enroll exits 0,
 * ERROR_INSTALL_FAILURE otherwise (the install rolls back: exit 1603).
 * Build: x86_64-w64-mingw32-gcc -shared -O2 -s -o rmagent-ca.dll enroll.c -lmsi (installer/windows/build.sh).
 */
#include <windows.h>
#include <msi.h>
#include <msiquery.h>

#define SEPARATOR L'\t'
#define ENROLL_TIMEOUT_MS (5 * 60 * 1000)

static void log_line(MSIHANDLE install, const wchar_t *text) {
  MSIHANDLE record = MsiCreateRecord(0);
  if (!record) return;
  MsiRecordSetStringW(record, 0, text);
  MsiProcessMessage(install, INSTALLMESSAGE_INFO, record);
  MsiCloseHandle(record);
}

static UINT run_enroll(MSIHANDLE install, const wchar_t *token, wchar_t *command_line) {
  SECURITY_ATTRIBUTES inherit = { sizeof(inherit), NULL, TRUE };
  HANDLE read_end = NULL, write_end = NULL;
  if (!CreatePipe(&read_end, &write_end, &inherit, 0)) return ERROR_INSTALL_FAILURE;
  /* Only the child's end is inherited. */
  SetHandleInformation(write_end, HANDLE_FLAG_INHERIT, 0);
  STARTUPINFOW si;
  PROCESS_INFORMATION pi;
  ZeroMemory(&si, sizeof(si));
  ZeroMemory(&pi, sizeof(pi));
  si.cb = sizeof(si);
  si.dwFlags = STARTF_USESTDHANDLES;
  si.hStdInput = read_end;
  si.hStdOutput = GetStdHandle(STD_OUTPUT_HANDLE);
  si.hStdError = GetStdHandle(STD_ERROR_HANDLE);
  BOOL started = CreateProcessW(NULL, command_line, NULL, NULL, TRUE, CREATE_NO_WINDOW, NULL, NULL, &si, &pi);
  CloseHandle(read_end);
  if (!started) {
    CloseHandle(write_end);
    log_line(install, L"rmagent: could not start rmagent.exe enroll");
    return ERROR_INSTALL_FAILURE;
  }
  /* The token as UTF-8, one line, then end of input. */
  char utf8[4200];
  int bytes = WideCharToMultiByte(CP_UTF8, 0, token, -1, utf8, (int)sizeof(utf8) - 2, NULL, NULL);
  DWORD written = 0;
  if (bytes > 1) {
    utf8[bytes - 1] = '\n';
    WriteFile(write_end, utf8, (DWORD)bytes, &written, NULL);
  }
  SecureZeroMemory(utf8, sizeof(utf8));
  CloseHandle(write_end);
  DWORD code = 1;
  if (WaitForSingleObject(pi.hProcess, ENROLL_TIMEOUT_MS) != WAIT_OBJECT_0) {
    TerminateProcess(pi.hProcess, 1);
    log_line(install, L"rmagent: rmagent.exe enroll did not finish in time");
  } else {
    GetExitCodeProcess(pi.hProcess, &code);
  }
  CloseHandle(pi.hProcess);
  CloseHandle(pi.hThread);
  if (code != 0) log_line(install, L"rmagent: rmagent.exe enroll failed (see its exit code in docs/deployment.md)");
  return code == 0 ? ERROR_SUCCESS : ERROR_INSTALL_FAILURE;
}

__declspec(dllexport) UINT __stdcall EnrollWithToken(MSIHANDLE install) {
  DWORD size = 0;
  wchar_t empty[1] = L"";
  UINT r = MsiGetPropertyW(install, L"CustomActionData", empty, &size);
  if (r != ERROR_MORE_DATA && r != ERROR_SUCCESS) return ERROR_INSTALL_FAILURE;
  size += 1;
  wchar_t *data = (wchar_t *)HeapAlloc(GetProcessHeap(), HEAP_ZERO_MEMORY, size * sizeof(wchar_t));
  if (!data) return ERROR_INSTALL_FAILURE;
  UINT result = ERROR_INSTALL_FAILURE;
  if (MsiGetPropertyW(install, L"CustomActionData", data, &size) == ERROR_SUCCESS) {
    wchar_t *sep = wcschr(data, SEPARATOR);
    if (sep && sep[1] && wcsstr(sep + 1, L"--node-options") != NULL) {
      /* rmagent.exe takes an argument starting with --node-options= anywhere on its command line as Node runtime
         flags (a --require of any file, as LocalSystem): no enrollment value may carry it (docs/security.md). */
      log_line(install, L"rmagent: an enrollment value holds --node-options: refused");
    } else if (sep && sep[1]) {
      *sep = L'\0';
      result = run_enroll(install, data, sep + 1);
    } else {
      log_line(install, L"rmagent: enrollment parameters are incomplete");
    }
  }
  SecureZeroMemory(data, size * sizeof(wchar_t));
  HeapFree(GetProcessHeap(), 0, data);
  return result;
}
