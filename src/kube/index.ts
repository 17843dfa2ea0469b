export { allCrds, crdFiles, crdOf } from "./crds.js";
export { clustersAnnotation, group, kubeApiVersion, pluralOf, version } from "./names.js";
