// Entry point for the sucrase bundle compiled into dorm (see Makefile):
// exposes the one function the compile thread calls.
import { transform } from "sucrase";

globalThis.__dormTransform = function (code, filePath) {
  return transform(code, {
    transforms: ["typescript"],
    filePath,
    keepUnusedImports: false,
    disableESTransforms: true,
  }).code;
};
