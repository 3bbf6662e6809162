#!/bin/sh
# The webhook's serving certificate without cert-manager: a CA (made once, kept for rotations)
# and a serving certificate for the webhook's Service names, signed by it, with openssl. With
# --apply, also stores them in the cluster with kubectl: the Secret the Deployment mounts (the
# webhook reloads a renewed pair without a restart) and the CA as the caBundle of both entries
# of the MutatingWebhookConfiguration (run `kubectl apply -k infra/kubernetes/agent/manual-tls`
# first, so that it exists).
#
#   make-certs.sh [--apply] [DIR]      DIR: where the files go (default: certs/ beside this script)
#
# Run it again before the serving certificate expires (DAYS, default 365): the CA is kept, so
# the caBundle does not change and no admission call fails during the swap.
# NAMESPACE, SERVICE, SECRET, WEBHOOK_CONFIGURATION, DAYS override the defaults below.
set -eu

apply=false
if [ "${1:-}" = "--apply" ]; then
  apply=true
  shift
fi
dir=${1:-"$(dirname "$0")/certs"}
namespace=${NAMESPACE:-irsa-broker}
service=${SERVICE:-irsa-broker-webhook}
secret=${SECRET:-irsa-broker-webhook-tls}
configuration=${WEBHOOK_CONFIGURATION:-irsa-broker}
days=${DAYS:-365}
# The entries of the MutatingWebhookConfiguration (base/mutatingwebhookconfiguration.yaml).
entries=2

# openssl's progress lines are noise; its errors are not.
quiet() {
  out=$("$@" 2>&1) || {
    printf '%s\n' "$out" >&2
    return 1
  }
}

umask 077
mkdir -p "$dir"
cd "$dir"
trap 'rm -f tls.key.new tls.crt.new tls.csr serving.ext' EXIT

if [ ! -f ca.key ]; then
  quiet openssl req -x509 -new -nodes -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 \
    -keyout ca.key -out ca.crt -days 3650 -subj "/CN=irsa-broker-webhook-ca" \
    -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign"
  echo "made a CA: $dir/ca.crt (its key, ca.key, signs the next serving certificates: keep it)" >&2
fi

cat > serving.ext <<EXT
basicConstraints=critical,CA:FALSE
keyUsage=critical,digitalSignature,keyEncipherment
extendedKeyUsage=serverAuth
subjectAltName=DNS:$service.$namespace.svc,DNS:$service.$namespace.svc.cluster.local
EXT
quiet openssl req -new -nodes -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 \
  -keyout tls.key.new -out tls.csr -subj "/CN=$service.$namespace.svc"
quiet openssl x509 -req -in tls.csr -CA ca.crt -CAkey ca.key \
  -set_serial "0x$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')" \
  -days "$days" -extfile serving.ext -out tls.crt.new
mv tls.key.new tls.key
mv tls.crt.new tls.crt
chmod 644 ca.crt tls.crt
echo "made a serving certificate for $service.$namespace.svc, valid $days days: $dir/tls.crt" >&2

if [ "$apply" = true ]; then
  b64() { base64 < "$1" | tr -d '\n'; }
  kubectl apply -f - <<SECRET
apiVersion: v1
kind: Secret
metadata:
  name: $secret
  namespace: $namespace
type: kubernetes.io/tls
data:
  tls.crt: $(b64 tls.crt)
  tls.key: $(b64 tls.key)
  ca.crt: $(b64 ca.crt)
SECRET
  bundle=$(b64 ca.crt)
  patch=""
  i=0
  while [ "$i" -lt "$entries" ]; do
    patch="$patch${patch:+,}{\"op\":\"add\",\"path\":\"/webhooks/$i/clientConfig/caBundle\",\"value\":\"$bundle\"}"
    i=$((i + 1))
  done
  kubectl patch mutatingwebhookconfiguration "$configuration" --type=json -p "[$patch]"
fi
