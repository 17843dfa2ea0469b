// The dashboard's icon, kept in code because the build (scripts/build-ui.mjs) bundles scripts and
// styles only. Served at /ui/favicon.svg and, for browsers that ask the root by habit, /favicon.ico
// (SVG there too: browsers read the type from the answer, not the name).
export const faviconSvg = Buffer.from(
  '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 32 32">' +
    '<rect width="32" height="32" rx="6" fill="#1d4ed8"/>' +
    '<path d="M7 9h18M10 9v16M22 9v16M7 16h18" stroke="#fff" stroke-width="3" stroke-linecap="round" fill="none"/>' +
    "</svg>\n",
);
