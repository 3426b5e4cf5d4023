/** Public surface of resources/: client JSON -> stored shape (normalize), stored -> SCIM JSON (render). */
export { normalizeResource, normalizeMembers, coerceBoolean, type NormalizedResource } from './normalize.js';
export { renderResource, parseProjection, splitAttrName, wantsAttribute, etagOf, locationOf, type Projection, type RenderOptions } from './render.js';
