#!/bin/sh
# Creates the cluster certificate every silo and gateway presents on its Orleans connections (mutual TLS), as the
# Kubernetes Secret chat-cluster-tls (tls.crt, tls.key) in the namespace chat. One self-signed certificate, shared by
# the whole cluster: a pod that holds it is a member, and nothing else is. Run it once per cluster, before the first
# `kubectl apply -k deploy/overlays/production`; to rotate, run it with --replace, then restart the silos and gateways
# together (`kubectl -n chat rollout restart deployment/chat-silo deployment/chat-gateway`): old and new members do not
# accept each other.
#   deploy/cluster-certificate.sh [--replace] [--days N]
set -eu
replace=false
days=825
while [ $# -gt 0 ]; do
  case "$1" in
    --replace) replace=true ;;
    --days) days="$2"; shift ;;
    *) echo "usage: $0 [--replace] [--days N]" >&2; exit 2 ;;
  esac
  shift
done
folder=$(mktemp -d)
trap 'rm -rf "$folder"' EXIT
umask 077
# serverAuth and clientAuth: every member is the server of the connections it accepts and the client of those it opens.
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days "$days" \
  -subj "/CN=chat-cluster" \
  -addext "basicConstraints=critical,CA:FALSE" \
  -addext "keyUsage=critical,digitalSignature" \
  -addext "extendedKeyUsage=serverAuth,clientAuth" \
  -keyout "$folder/tls.key" -out "$folder/tls.crt" 2>/dev/null
if [ "$replace" = true ]; then
  kubectl -n chat create secret tls chat-cluster-tls --cert="$folder/tls.crt" --key="$folder/tls.key" --dry-run=client -o yaml | kubectl apply -f -
else
  kubectl -n chat create secret tls chat-cluster-tls --cert="$folder/tls.crt" --key="$folder/tls.key"
fi
openssl x509 -in "$folder/tls.crt" -noout -subject -enddate -fingerprint -sha256
