#!/bin/sh
# Makes the key files the tests read, with the openssl that users run.
# They are test keys: nothing trusts them. Run again to replace them, then
# update the thumbprints in keys_test.go (the test prints the new ones).
set -eu
cd "$(dirname "$0")"
openssl ecparam -genkey -name prime256v1 -out p256-ecparam.pem   # EC PARAMETERS, then EC PRIVATE KEY
openssl ecparam -genkey -name prime256v1 -noout -out p256-noout.pem
openssl pkcs8 -topk8 -nocrypt -in p256-noout.pem -out p256-pkcs8.pem
openssl ec -in p256-noout.pem -pubout -out p256-public.pem
openssl ec -in p256-noout.pem -aes256 -passout pass:test -out p256-encrypted.pem
openssl ecparam -genkey -name secp384r1 -out p384.pem
openssl ecparam -genkey -name secp256k1 -out secp256k1.pem
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out rsa-pkcs8.pem
openssl genrsa -traditional -out rsa-pkcs1.pem 2048
openssl genpkey -algorithm ed25519 -out ed25519.pem
