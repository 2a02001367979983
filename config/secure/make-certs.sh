#!/usr/bin/env bash
# Makes a throwaway certificate authority and, signed by it, a server certificate for the
# brokers and a client certificate, all PEM, for Tern's SSL and SASL_SSL listeners:
#   config/secure/make-certs.sh [OUT_DIR] [CLIENT_NAME]
# OUT_DIR (default config/secure/certs) gets ca.pem, server.pem (key and chain, for
# ssl.keystore.location), client.pem (key and chain, for a client's ssl.keystore.location or
# ssl.certificate.location) and client-cert.pem / client-key.pem for clients that want them apart.
# The server certificate names localhost and 127.0.0.1. Never use these outside a laptop or CI.
set -euo pipefail
out="${1:-$(dirname "$0")/certs}"
client="${2:-alice}"
mkdir -p "$out"
cd "$out"
days=30
openssl req -x509 -newkey rsa:2048 -nodes -keyout ca-key.pem -out ca.pem -days "$days" \
    -subj "/CN=Tern throwaway CA" 2>/dev/null
for who in server client; do
    if [ "$who" = server ]; then subj="/CN=localhost/OU=brokers/O=Tern"; else subj="/CN=$client/OU=clients/O=Tern"; fi
    openssl req -newkey rsa:2048 -nodes -keyout "$who-key.pem" -out "$who.csr" -subj "$subj" 2>/dev/null
    printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\n' > "$who.ext"
    openssl x509 -req -in "$who.csr" -CA ca.pem -CAkey ca-key.pem -CAcreateserial -out "$who-cert.pem" \
        -days "$days" -extfile "$who.ext" 2>/dev/null
    cat "$who-key.pem" "$who-cert.pem" ca.pem > "$who.pem"
    rm -f "$who.csr" "$who.ext"
done
rm -f ca.srl
echo "certificates in $out: ca.pem, server.pem, client.pem (CN=$client)"
