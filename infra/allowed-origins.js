'use strict';
// The HTTP API's CORS origins, from ALLOWED_ORIGINS (comma-separated), as serverless.yml
// reads them: `${file(./infra/allowed-origins.js)}`. API Gateway answers preflights itself,
// so this list is what production allows. `*` is refused, and so is anything that is not
// an origin (scheme://host[:port], no path): the browser compares origins exactly.
module.exports = () => {
  const origins = (process.env.ALLOWED_ORIGINS || '')
    .split(',')
    .map((origin) => origin.trim())
    .filter(Boolean);
  for (const origin of origins) {
    if (!/^https?:\/\/[^/\s*]+$/.test(origin)) {
      throw new Error(
        `ALLOWED_ORIGINS: ${JSON.stringify(origin)} is not an origin such as https://shop.example ` +
          '(`*` is never allowed in production)'
      );
    }
  }
  return origins;
};
