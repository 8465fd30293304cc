// Build step of installer/sea/build.sh: writes the version resource (what Explorer's Details tab, Get-Item
// .VersionInfo and inventory tools read) into a Windows single executable, replacing the Node.js one it inherited.
// resedit (npm) edits the PE resource section and keeps every other resource, the SEA blob (NODE_SEA_BLOB) included.
//   node build/exe-version.mjs EXECUTABLE NAME VERSION BUILD     e.g. dist/rmagent-win-x64.exe rmagent 0.1.0 42
import fs from 'node:fs';
import { NtExecutable, NtExecutableResource, Resource } from 'resedit';

const [exe, name, version, build] = process.argv.slice(2);
if (!exe || !name || !version || !build || !/^\d+\.\d+\.\d+/.test(version) || !/^\d+$/.test(build) || Number(build) > 65535) {
  console.error('usage: exe-version.mjs EXECUTABLE NAME VERSION(x.y.z) BUILD(0-65535)');
  process.exit(64);
}
const [major, minor, patch] = version.split(/[.+-]/).map(Number) as [number, number, number];
const executable = NtExecutable.from(fs.readFileSync(exe), { ignoreCert: true });
const resources = NtExecutableResource.from(executable);
const LANG = 1033; // en-US
const CODEPAGE = 1200; // UTF-16
// Node's own version resource (type 16, RT_VERSION) goes: one version resource, ours.
resources.entries = resources.entries.filter((e) => e.type !== 16);
const info = Resource.VersionInfo.createEmpty();
info.lang = LANG;
info.setFileVersion(major, minor, patch, Number(build), LANG);
info.setProductVersion(major, minor, patch, Number(build), LANG);
info.setStringValues({ lang: LANG, codepage: CODEPAGE }, {
  CompanyName: 'rmagent',
  FileDescription: name === 'rmagent' ? 'rmagent Remote Management endpoint agent' : 'rmagent management server',
  FileVersion: `${major}.${minor}.${patch}.${build}`,
  ProductName: 'rmagent',
  ProductVersion: `${version}+${build}`,
  InternalName: name,
  OriginalFilename: `${name}.exe`,
  LegalCopyright: 'MIT License; includes Node.js (MIT) and its bundled libraries',
});
info.outputToResourceEntries(resources.entries);
resources.outputResource(executable);
fs.writeFileSync(`${exe}.tmp`, Buffer.from(executable.generate()));
fs.renameSync(`${exe}.tmp`, exe);
console.log(`${exe}: file version ${major}.${minor}.${patch}.${build}`);
