#!/usr/bin/env bash
# The baseline for bench/run.ts: kubeadm's `init phase certs all` + `init phase kubeconfig all`
# made with the openssl CLI only, one command after another, as a shell script naturally does.
#
#   bench/openssl-pki.sh OUTDIR rsa|ec [NODE_NAME [ADVERTISE_ADDRESS]]
#
# Writes the same 27 files as `kpki init --dir OUTDIR --node-name n1 --apiserver-advertise-address 10.0.0.10`:
# OUTDIR/pki/{ca,apiserver,apiserver-kubelet-client,front-proxy-ca,front-proxy-client,apiserver-etcd-client}.{crt,key},
# OUTDIR/pki/etcd/{ca,server,peer,healthcheck-client}.{crt,key}, OUTDIR/pki/sa.{key,pub} and
# OUTDIR/{admin,super-admin,kubelet,controller-manager,scheduler}.conf: 16 keys in all.
# Same subjects, SANs, key usages, EKUs and CA/leaf extensions (in Go's order) as kubeadm.
# Known differences from kubeadm: keys are PKCS#8 (`openssl genpkey`), not PKCS#1/SEC1;
# NotBefore is "now", not now-5m; serials are openssl's random 20 bytes.
set -euo pipefail

if [ $# -lt 2 ] || { [ "$2" != rsa ] && [ "$2" != ec ]; }; then
  echo "usage: $0 OUTDIR rsa|ec [NODE_NAME [ADVERTISE_ADDRESS]]" >&2
  exit 2
fi
OUT=$1 ALG=$2 NODE=${3:-n1} IP=${4:-10.0.0.10}
CLUSTER=kubernetes
SERVER="https://$IP:6443"

mkdir -p "$OUT/pki/etcd"
cd "$OUT"
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

genkey() { # out
  if [ "$ALG" = rsa ]; then
    openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$1" 2>/dev/null
  else
    openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -pkeyopt ec_param_enc:named_curve -out "$1"
  fi
}

# Self-signed CA (kubeadm NewSelfSignedCACert): KU critical, BC critical CA:TRUE, SKI, SAN DNS:<CN>.
# A config of our own, because the default one adds an AKI to `req -x509` certificates.
mkca() { # basename cn
  local name=$1 cn=$2 cnf="$WORK/ca.cnf"
  genkey "pki/$name.key"
  printf '%s\n' "[req]" "distinguished_name=dn" "x509_extensions=ext" "[dn]" "[ext]" \
    "keyUsage=critical,digitalSignature,keyEncipherment,keyCertSign" \
    "basicConstraints=critical,CA:TRUE" \
    "subjectKeyIdentifier=hash" \
    "subjectAltName=DNS:$cn" >"$cnf"
  openssl req -x509 -new -config "$cnf" -key "pki/$name.key" -sha256 -days 3650 -subj "/CN=$cn" -out "pki/$name.crt"
}

# A leaf signed by a CA (kubeadm NewSignedCert): KU critical, EKU, BC critical CA:FALSE, AKI keyid, SAN.
# subjectKeyIdentifier=none: openssl 3 adds an SKI to `x509 -req` output by default, Go does not on leaves.
sign() { # key crt ca subject eku sans
  local key=$1 crt=$2 ca=$3 subj=$4 eku=$5 sans=$6 ext="$WORK/leaf.ext"
  openssl req -new -key "$key" -subj "$subj" -out "$WORK/leaf.csr"
  {
    echo "keyUsage=critical,digitalSignature,keyEncipherment"
    echo "extendedKeyUsage=$eku"
    echo "basicConstraints=critical,CA:FALSE"
    echo "authorityKeyIdentifier=keyid"
    echo "subjectKeyIdentifier=none"
    if [ -n "$sans" ]; then echo "subjectAltName=$sans"; fi
  } >"$ext"
  openssl x509 -req -in "$WORK/leaf.csr" -CA "pki/$ca.crt" -CAkey "pki/$ca.key" \
    -sha256 -days 365 -extfile "$ext" -out "$crt" 2>/dev/null
}
mkleaf() { # basename ca subject eku sans
  genkey "pki/$1.key"
  sign "pki/$1.key" "pki/$1.crt" "$2" "$3" "$4" "$5"
}

# ---- certs, in kubeadm's phase order
mkca ca kubernetes
mkleaf apiserver ca "/CN=kube-apiserver" serverAuth \
  "DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local,DNS:$NODE,IP:10.96.0.1,IP:$IP"
mkleaf apiserver-kubelet-client ca "/O=kubeadm:cluster-admins/CN=kube-apiserver-kubelet-client" clientAuth ""
mkca front-proxy-ca front-proxy-ca
mkleaf front-proxy-client front-proxy-ca "/CN=front-proxy-client" clientAuth ""
mkca etcd/ca etcd-ca
ETCD_SANS="DNS:localhost,DNS:$NODE,IP:$IP,IP:127.0.0.1,IP:0:0:0:0:0:0:0:1"
mkleaf etcd/server etcd/ca "/CN=$NODE" serverAuth,clientAuth "$ETCD_SANS"
mkleaf etcd/peer etcd/ca "/CN=$NODE" serverAuth,clientAuth "$ETCD_SANS"
mkleaf etcd/healthcheck-client etcd/ca "/CN=kube-etcd-healthcheck-client" clientAuth ""
mkleaf apiserver-etcd-client etcd/ca "/CN=kube-apiserver-etcd-client" clientAuth ""
genkey pki/sa.key
openssl pkey -in pki/sa.key -pubout -out pki/sa.pub
chmod 600 pki/sa.pub

# ---- kubeconfigs: a client cert signed by ca, embedded with the CA in the YAML
umask 077
CA_DATA=$(base64 -w0 <pki/ca.crt)
mkconf() { # file user organization(or "") server
  local file=$1 user=$2 org=$3 server=$4 subj
  subj="/CN=$user"
  if [ -n "$org" ]; then subj="/O=$org/CN=$user"; fi
  genkey "$WORK/client.key"
  sign "$WORK/client.key" "$WORK/client.crt" ca "$subj" clientAuth ""
  cat >"$file" <<EOF
apiVersion: v1
clusters:
- cluster:
    certificate-authority-data: $CA_DATA
    server: $server
  name: $CLUSTER
contexts:
- context:
    cluster: $CLUSTER
    user: $user
  name: $user@$CLUSTER
current-context: $user@$CLUSTER
kind: Config
preferences: {}
users:
- name: $user
  user:
    client-certificate-data: $(base64 -w0 <"$WORK/client.crt")
    client-key-data: $(base64 -w0 <"$WORK/client.key")
EOF
}
mkconf admin.conf kubernetes-admin kubeadm:cluster-admins "$SERVER"
mkconf super-admin.conf kubernetes-super-admin system:masters "$SERVER"
mkconf kubelet.conf "system:node:$NODE" system:nodes "$SERVER"
mkconf controller-manager.conf system:kube-controller-manager "" "$SERVER"
mkconf scheduler.conf system:kube-scheduler "" "$SERVER"
