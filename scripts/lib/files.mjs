// Small file checks shared by the installers.
import { accessSync, constants, statSync } from 'node:fs';

/** True for a regular file this process may execute. */
export function isExecutableFile(path) {
  try {
    if (!statSync(path).isFile()) return false;
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}
