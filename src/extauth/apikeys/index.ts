export { ApiKeyDirectory, type ApiKeyDirectoryOptions } from "./directory.js";
export {
  type ApiKeyRecord,
  apiKeyChangesChannel,
  createApiKey,
  findApiKey,
  hashApiKey,
  listApiKeys,
  type NewApiKey,
  revokeApiKey,
} from "./store.js";
