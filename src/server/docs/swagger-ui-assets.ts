// Imported as files so that `bun build --compile` embeds them in the binary: the UI then
// works with no internet access, unlike the CDN copy that @elysiajs/openapi loads by default.

import stylesheet from "swagger-ui-dist/swagger-ui.css" with { type: "file" };
import bundleScript from "swagger-ui-dist/swagger-ui-bundle.js" with { type: "file" };

export const swaggerUiAssets = { bundleScript, stylesheet };
