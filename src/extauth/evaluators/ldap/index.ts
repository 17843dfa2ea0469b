export { basicCredentials } from "./credentials.js";
export { escapeDnValue, normalizeDn, userDn } from "./dn.js";
export { type LdapIdentity, ldapAuthFactory } from "./evaluator.js";
