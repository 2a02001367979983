#!/usr/bin/env bash
# Makes a throwaway certificate authority and, signed by it, a server certificate for the
# brokers and a client certificate, all PEM, for Tern's SSL and SASL_SSL listeners:
#   config/secure/make-certs.sh [OUT_DIR] [CLIENT_NAME] [HOST...]
# OUT_DIR (default config/secure/certs) gets ca.pem, server.pem (key and chain, for
# ssl.keystore.location), client.pem (key and chain, for a client's ssl.keystore.location or
# ssl.certificate.location) and client-cert.pem / client-key.pem for clients that want them apart.
# The server certificate names localhost, 127.0.0.1 and each HOST (docker/compose.secure.yml
# passes its service names tern-0 tern-1 tern-2). Never use these outside a laptop or CI.
set -euo pipefail
out="${1:-$(dirname "$0")/certs}"
client="${2:-alice}"
shift $(($# > 2 ? 2 : $#))
names="DNS:localhost,IP:127.0.0.1"
for host in "$@"; do names="$names,DNS:$host"; done
mkdir -p "$out"
cd "$out"
days=30
openssl req -x509 -newkey rsa:2048 -nodes -keyout ca-key.pem -out ca.pem -days "$days" \
    -subj "/CN=Tern throwaway CA" 2>/dev/null
for who in server client; do
    if [ "$who" = server ]; then subj="/CN=localhost/OU=brokers/O=Tern"; else subj="/CN=$client/OU=clients/O=Tern"; fi
    openssl req -newkey rsa:2048 -nodes -keyout "$who-key.pem" -out "$who.csr" -subj "$subj" 2>/dev/null
    printf 'subjectAltName=%s\nbasicConstraints=CA:FALSE\n' "$names" > "$who.ext"
    openssl x509 -req -in "$who.csr" -CA ca.pem -CAkey ca-key.pem -CAcreateserial -out "$who-cert.pem" \
        -days "$days" -extfile "$who.ext" 2>/dev/null
    cat "$who-key.pem" "$who-cert.pem" ca.pem > "$who.pem"
    rm -f "$who.csr" "$who.ext"
done
rm -f ca.srl
echo "certificates in $out: ca.pem, server.pem, client.pem (CN=$client)"
