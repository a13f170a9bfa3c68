module github.com/caddy-fedauth/caddy-fedauth/e2e/gosdk

go 1.26.8

require github.com/openfaas/go-sdk v0.2.18

require github.com/openfaas/faas-provider v0.25.12 // indirect
