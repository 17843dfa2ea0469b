export { type AdmissionAnswer, type AdmissionReview, reviewAdmission } from "./admission.js";
export { type AdmissionServer, admissionPath, startAdmissionServer } from "./admission-server.js";
export { allCrds, crdFiles, crdOf } from "./crds.js";
export { clustersAnnotation, group, kubeApiVersion, pluralOf, version } from "./names.js";
export { documentOf, type KubeObject, parseObject } from "./objects.js";
export {
  type KubeEntry,
  type KubeResourceSet,
  KubeResourcesProvider,
  type KubeResourcesProviderOptions,
} from "./provider.js";
export { KubeSource, type KubeSourceOptions, type Leadership } from "./source.js";
export { attachedPolicies, desiredStatus, type GantryStatus, sameStatus } from "./status.js";
export { injectCaBundle } from "./webhook-config.js";
