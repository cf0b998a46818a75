import packageJson from "../../package.json" with { type: "json" };

/** The package version, embedded at build time so the binary needs no package.json beside it. */
export const version: string = packageJson.version;
