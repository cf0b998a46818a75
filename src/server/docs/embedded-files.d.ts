// `import path from "..." with { type: "file" }` yields the file's path (in the binary, a
// path inside Bun's embedded file system).
declare module "swagger-ui-dist/swagger-ui-bundle.js" {
  const path: string;
  export default path;
}
declare module "swagger-ui-dist/swagger-ui.css" {
  const path: string;
  export default path;
}
declare module "*/dashboard.css" {
  const path: string;
  export default path;
}
declare module "*/dashboard.js" {
  const path: string;
  export default path;
}
