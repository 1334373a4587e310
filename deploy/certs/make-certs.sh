#!/bin/sh
# Runs once in the compose file's "certs" container (alpine): a private CA, a certificate for Keycloak and one
# for PostgreSQL (each also valid for localhost), and random secrets. Files that exist are kept, so restarting
# the stack does not change them; `docker compose down -v` removes the volumes and starts over.
set -eu

if [ ! -f /certs/ca.pem ]; then
  apk add --no-cache openssl >/dev/null
  cd /certs
  openssl req -x509 -newkey rsa:2048 -nodes -days 825 -subj "/CN=Gatehouse example CA" \
    -keyout ca-key.pem -out ca.pem 2>/dev/null
  for name in keycloak postgres; do
    openssl req -newkey rsa:2048 -nodes -subj "/CN=$name" -keyout "$name-key.pem" -out "$name.csr" 2>/dev/null
    printf 'subjectAltName=DNS:%s,DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n' "$name" > "$name.ext"
    openssl x509 -req -in "$name.csr" -CA ca.pem -CAkey ca-key.pem -CAcreateserial -days 825 \
      -extfile "$name.ext" -out "$name.pem" 2>/dev/null
    rm "$name.csr" "$name.ext"
  done
  rm ca-key.pem ca.srl            # nothing else is ever signed with this CA
  chmod 644 ca.pem keycloak.pem postgres.pem
  chown 1000 keycloak-key.pem     # Keycloak runs as uid 1000
  chown 999:999 postgres-key.pem  # postgres (Debian image) is uid 999; it wants its key 0600
  chmod 600 keycloak-key.pem postgres-key.pem
  echo "certs: made a CA and certificates for keycloak and postgres"
fi

secret() { head -c 32 /dev/urandom | base64 | tr -d '/+=\n' | cut -c1-32; }
umask 077
if [ ! -f /secrets/postgres-superuser ]; then
  secret > /secrets/postgres-superuser
  chown 999:999 /secrets/postgres-superuser
fi
if [ ! -f /secrets/provisioner ]; then
  secret > /secrets/provisioner
  # Read by Gatehouse (uid 1654, the image's "app" user) and, once, by PostgreSQL's init script (group 999).
  chown 1654:999 /secrets/provisioner
  chmod 440 /secrets/provisioner
fi
echo "certs: ready"
