//! Certificates and kubeconfigs for a kube-lite cluster (`kube-lite certs`):
//! a cluster CA, the API server's serving certificate for the given
//! addresses, an admin client certificate, the service-account key pair, a
//! token file, and kubeconfig files that the stock kubectl, kube-rs and
//! other clients load unchanged.
