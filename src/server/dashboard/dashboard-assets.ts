// Imported as files so that `bun build --compile` embeds them in the binary (as for Swagger UI's
// assets): the dashboard is plain files served as they are, with nothing built at run time.

import stylesheet from "./dashboard.css" with { type: "file" };
import page from "./dashboard.html" with { type: "file" };
import script from "./dashboard.js" with { type: "file" };

// bun-types declares every `.html` import an HTMLBundle (what Bun.serve bundles); with
// `type: "file"` it is the file's path, like the others.
export const dashboardAssets = { page: page as unknown as string, script, stylesheet };
