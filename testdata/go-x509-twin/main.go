// Command go-x509-twin re-creates certificates with Go's crypto/x509, the
// library kubeadm uses, from the same template fields kubeadm's pki_helpers.go
// sets (NewSelfSignedCACert, NewSignedCert). test/interop/go-x509.test.ts feeds
// it kpki's keys, serials and dates and compares the bytes. Standard library
// only, so it builds with GO111MODULE=off and no module download
// (test/helpers/go-twin.ts buildGoTool).
package main

import (
	"crypto"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"errors"
	"math/big"
	"net"
	"os"
	"time"
)

type request struct {
	Name          string   `json:"name"`
	IsCA          bool     `json:"isCa"`
	CommonName    string   `json:"commonName"`
	Organizations []string `json:"organizations"`
	DNSNames      []string `json:"dnsNames"`
	IPs           []string `json:"ips"`
	ExtKeyUsages  []string `json:"extKeyUsages"`
	Serial        string   `json:"serial"`
	NotBefore     string   `json:"notBefore"`
	NotAfter      string   `json:"notAfter"`
	PublicKeyPem  string   `json:"publicKeyPem"`
	SignerKeyPem  string   `json:"signerKeyPem"`
	ParentCertPem string   `json:"parentCertPem"`
}

type response struct {
	Name    string `json:"name"`
	CertPem string `json:"certPem"`
	Error   string `json:"error,omitempty"`
}

func block(text string) ([]byte, error) {
	b, _ := pem.Decode([]byte(text))
	if b == nil {
		return nil, errors.New("no PEM block")
	}
	return b.Bytes, nil
}

func signer(text string) (crypto.Signer, error) {
	der, err := block(text)
	if err != nil {
		return nil, err
	}
	if k, err := x509.ParsePKCS1PrivateKey(der); err == nil {
		return k, nil
	}
	if k, err := x509.ParseECPrivateKey(der); err == nil {
		return k, nil
	}
	k, err := x509.ParsePKCS8PrivateKey(der)
	if err != nil {
		return nil, err
	}
	return k.(crypto.Signer), nil
}

var ekus = map[string]x509.ExtKeyUsage{"serverAuth": x509.ExtKeyUsageServerAuth, "clientAuth": x509.ExtKeyUsageClientAuth}

func create(r request) ([]byte, error) {
	serial, ok := new(big.Int).SetString(r.Serial, 10)
	if !ok {
		return nil, errors.New("bad serial")
	}
	notBefore, err := time.Parse(time.RFC3339, r.NotBefore)
	if err != nil {
		return nil, err
	}
	notAfter, err := time.Parse(time.RFC3339, r.NotAfter)
	if err != nil {
		return nil, err
	}
	pubDer, err := block(r.PublicKeyPem)
	if err != nil {
		return nil, err
	}
	pub, err := x509.ParsePKIXPublicKey(pubDer)
	if err != nil {
		return nil, err
	}
	key, err := signer(r.SignerKeyPem)
	if err != nil {
		return nil, err
	}
	tmpl := x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: r.CommonName, Organization: r.Organizations},
		DNSNames:              r.DNSNames,
		NotBefore:             notBefore.UTC(),
		NotAfter:              notAfter.UTC(),
		KeyUsage:              x509.KeyUsageKeyEncipherment | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  r.IsCA,
	}
	for _, ip := range r.IPs {
		tmpl.IPAddresses = append(tmpl.IPAddresses, net.ParseIP(ip))
	}
	for _, u := range r.ExtKeyUsages {
		tmpl.ExtKeyUsage = append(tmpl.ExtKeyUsage, ekus[u])
	}
	parent := &tmpl
	if r.IsCA {
		tmpl.KeyUsage |= x509.KeyUsageCertSign
	}
	if r.ParentCertPem != "" {
		der, err := block(r.ParentCertPem)
		if err != nil {
			return nil, err
		}
		if parent, err = x509.ParseCertificate(der); err != nil {
			return nil, err
		}
	}
	return x509.CreateCertificate(rand.Reader, &tmpl, parent, pub, key)
}

func main() {
	var reqs []request
	if err := json.NewDecoder(os.Stdin).Decode(&reqs); err != nil {
		panic(err)
	}
	out := []response{}
	for _, r := range reqs {
		der, err := create(r)
		resp := response{Name: r.Name}
		if err != nil {
			resp.Error = err.Error()
		} else {
			resp.CertPem = string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))
		}
		out = append(out, resp)
	}
	if err := json.NewEncoder(os.Stdout).Encode(out); err != nil {
		panic(err)
	}
}
