// Command go-csr-twin reports what Go's crypto/x509 reads from the bytes of a
// Kubernetes CertificateSigningRequest's spec.request, the way kube-apiserver
// and kube-controller-manager read them (k8s.io/kubernetes
// pkg/apis/certificates/v1/helpers.go ParseCSR: pem.Decode, a "CERTIFICATE
// REQUEST" block, x509.ParseCertificateRequest, then CheckSignature), and
// creates CSRs the way the kubelet does (k8s.io/client-go util/cert
// MakeCSRFromTemplate). test/helpers/go-twin.ts drives it.
//
// Protocol: one JSON object per stdin line, exactly one JSON line per input
// line on stdout, in input order. Requests are handled by one worker per CPU;
// stdout is flushed whenever no handled request is waiting to be written.
// Standard library only, so it builds with GO111MODULE=off and no network.
package main

import (
	"bufio"
	"crypto"
	"crypto/dsa"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"os"
	"runtime"
	"runtime/debug"
	"strconv"
	"time"
)

type input struct {
	ID           *int64   `json:"id"`
	Op           string   `json:"op"`
	Request      *string  `json:"request"`
	KeyPem       *string  `json:"keyPem"`
	CommonName   string   `json:"commonName"`
	Organization []string `json:"organization"`
	DNSNames     []string `json:"dnsNames"`
	IPs          []string `json:"ips"`
}

type inputError struct {
	ID    int64  `json:"id"`
	Stage string `json:"stage"`
	Error string `json:"error"`
}

type panicResult struct {
	ID    int64  `json:"id"`
	Stage string `json:"stage"`
	Error string `json:"error"`
	Panic string `json:"panic"`
}

type createResult struct {
	ID    int64  `json:"id"`
	Pem   string `json:"pem"`
	Error string `json:"error"`
}

type parseResult struct {
	ID         int64             `json:"id"`
	Stage      string            `json:"stage"`
	Error      string            `json:"error"`
	PemType    string            `json:"pemType"`
	PemHeaders map[string]string `json:"pemHeaders"`
	DerHex     string            `json:"derHex"`
	RestHex    string            `json:"restHex"`
	View       *view             `json:"view"`
}

type rdnAttribute struct {
	OID      string `json:"oid"`
	Class    int    `json:"class"`
	Tag      int    `json:"tag"`
	Compound bool   `json:"compound"`
	RawHex   string `json:"rawHex"`
	Kind     string `json:"kind"`
	Value    string `json:"value"`
	ValueHex string `json:"valueHex"`
}

type name struct {
	OID      string `json:"oid"`
	Kind     string `json:"kind"`
	Value    string `json:"value"`
	ValueHex string `json:"valueHex"`
}

type extension struct {
	OID      string `json:"oid"`
	Critical bool   `json:"critical"`
	ValueHex string `json:"valueHex"`
}

type rsaKey struct {
	Type string `json:"type"`
	NHex string `json:"nHex"`
	E    int    `json:"e"`
}

type ecdsaKey struct {
	Type  string `json:"type"`
	Curve string `json:"curve"`
	XHex  string `json:"xHex"`
	YHex  string `json:"yHex"`
}

type ed25519Key struct {
	Type   string `json:"type"`
	KeyHex string `json:"keyHex"`
}

type otherKey struct {
	Type string `json:"type"`
}

type view struct {
	RDNs               [][]rdnAttribute `json:"rdns"`
	RDNsError          string           `json:"rdnsError"`
	Names              []name           `json:"names"`
	CommonName         string           `json:"commonName"`
	CommonNameHex      string           `json:"commonNameHex"`
	Organization       []string         `json:"organization"`
	OrganizationHex    []string         `json:"organizationHex"`
	Extensions         []extension      `json:"extensions"`
	DNSNames           []string         `json:"dnsNames"`
	Emails             []string         `json:"emails"`
	URIs               []string         `json:"uris"`
	IPsHex             []string         `json:"ipsHex"`
	PublicKeyAlgorithm string           `json:"publicKeyAlgorithm"`
	PublicKey          any              `json:"publicKey"`
	SignatureAlgorithm string           `json:"signatureAlgorithm"`
	SignatureHex       string           `json:"signatureHex"`
	RawTbsHex          string           `json:"rawTbsHex"`
	RawSpkiHex         string           `json:"rawSpkiHex"`
	RawSubjectHex      string           `json:"rawSubjectHex"`
	AttributesCount    int              `json:"attributesCount"`
	CheckSignature     string           `json:"checkSignature"`
}

// The type names end in "SET" because encoding/asn1 decodes a slice type whose
// name ends in "SET" as a SET OF (getUniversalType), as pkix.RDNSequence does.
type rawATV struct {
	Type  asn1.ObjectIdentifier
	Value asn1.RawValue
}
type rawRDNSET []rawATV
type rawRDNSequence []rawRDNSET

// describe renders a value as encoding/asn1 decodes an ANY (interface{}) field:
// the universal string types become string, INTEGER int64, OCTET STRING
// []byte, BIT STRING asn1.BitString, OBJECT IDENTIFIER asn1.ObjectIdentifier,
// UTCTime and GeneralizedTime time.Time, anything else nil (asn1.go parseField).
func describe(v any) (kind, value, valueHex string) {
	switch x := v.(type) {
	case string:
		return "string", x, hex.EncodeToString([]byte(x))
	case int64:
		return "int64", strconv.FormatInt(x, 10), ""
	case []byte:
		return "bytes", hex.EncodeToString(x), ""
	case asn1.ObjectIdentifier:
		return "oid", x.String(), ""
	case time.Time:
		return "time", x.Format(time.RFC3339Nano), ""
	case asn1.BitString:
		return "bitstring", hex.EncodeToString(x.Bytes) + ":" + strconv.Itoa(x.BitLength), ""
	case nil:
		return "nil", "", ""
	default:
		return "other", fmt.Sprintf("%T %v", x, x), ""
	}
}

func rdns(rawSubject []byte) ([][]rdnAttribute, string) {
	var decoded pkix.RDNSequence
	if rest, err := asn1.Unmarshal(rawSubject, &decoded); err != nil {
		return [][]rdnAttribute{}, "decoded: " + err.Error()
	} else if len(rest) != 0 {
		return [][]rdnAttribute{}, "decoded: trailing data"
	}
	var raw rawRDNSequence
	rawErr := ""
	if rest, err := asn1.Unmarshal(rawSubject, &raw); err != nil {
		rawErr = "raw: " + err.Error()
	} else if len(rest) != 0 {
		rawErr = "raw: trailing data"
	} else if len(raw) != len(decoded) {
		rawErr = fmt.Sprintf("raw: %d RDNs, decoded %d", len(raw), len(decoded))
	} else {
		for i := range raw {
			if len(raw[i]) != len(decoded[i]) {
				rawErr = fmt.Sprintf("raw: RDN %d has %d attributes, decoded %d", i, len(raw[i]), len(decoded[i]))
				break
			}
		}
	}
	out := make([][]rdnAttribute, len(decoded))
	for i, rdn := range decoded {
		out[i] = make([]rdnAttribute, len(rdn))
		for j, atv := range rdn {
			kind, value, valueHex := describe(atv.Value)
			a := rdnAttribute{OID: atv.Type.String(), Kind: kind, Value: value, ValueHex: valueHex}
			if rawErr == "" {
				r := raw[i][j].Value
				a.Class, a.Tag, a.Compound, a.RawHex = r.Class, r.Tag, r.IsCompound, hex.EncodeToString(r.Bytes)
			}
			out[i][j] = a
		}
	}
	return out, rawErr
}

func hexList(items []string) []string {
	out := make([]string, len(items))
	for i, s := range items {
		out[i] = hex.EncodeToString([]byte(s))
	}
	return out
}

func nonNil(items []string) []string {
	if items == nil {
		return []string{}
	}
	return items
}

func publicKeyAlgorithm(a x509.PublicKeyAlgorithm) string {
	switch a {
	case x509.RSA, x509.DSA, x509.ECDSA, x509.Ed25519:
		return a.String()
	default:
		return "Unknown"
	}
}

func publicKey(k any) any {
	switch p := k.(type) {
	case *rsa.PublicKey:
		return rsaKey{Type: "rsa", NHex: fmt.Sprintf("%x", new(big.Int).Abs(p.N)), E: p.E}
	case *ecdsa.PublicKey:
		return ecdsaKey{Type: "ecdsa", Curve: p.Curve.Params().Name, XHex: fmt.Sprintf("%x", p.X), YHex: fmt.Sprintf("%x", p.Y)}
	case ed25519.PublicKey:
		return ed25519Key{Type: "ed25519", KeyHex: hex.EncodeToString(p)}
	case *dsa.PublicKey:
		return otherKey{Type: "dsa"}
	default:
		// x509 parsePublicKey returns a nil key, and no error, for an unknown
		// public key algorithm OID.
		return otherKey{Type: "none"}
	}
}

func makeView(csr *x509.CertificateRequest) *view {
	v := &view{
		Names:              make([]name, len(csr.Subject.Names)),
		CommonName:         csr.Subject.CommonName,
		CommonNameHex:      hex.EncodeToString([]byte(csr.Subject.CommonName)),
		Organization:       nonNil(csr.Subject.Organization),
		OrganizationHex:    hexList(csr.Subject.Organization),
		Extensions:         make([]extension, len(csr.Extensions)),
		DNSNames:           nonNil(csr.DNSNames),
		Emails:             nonNil(csr.EmailAddresses),
		URIs:               make([]string, len(csr.URIs)),
		IPsHex:             make([]string, len(csr.IPAddresses)),
		PublicKeyAlgorithm: publicKeyAlgorithm(csr.PublicKeyAlgorithm),
		PublicKey:          publicKey(csr.PublicKey),
		SignatureAlgorithm: csr.SignatureAlgorithm.String(),
		SignatureHex:       hex.EncodeToString(csr.Signature),
		RawTbsHex:          hex.EncodeToString(csr.RawTBSCertificateRequest),
		RawSpkiHex:         hex.EncodeToString(csr.RawSubjectPublicKeyInfo),
		RawSubjectHex:      hex.EncodeToString(csr.RawSubject),
		AttributesCount:    len(csr.Attributes),
	}
	v.RDNs, v.RDNsError = rdns(csr.RawSubject)
	for i, atv := range csr.Subject.Names {
		kind, value, valueHex := describe(atv.Value)
		v.Names[i] = name{OID: atv.Type.String(), Kind: kind, Value: value, ValueHex: valueHex}
	}
	for i, e := range csr.Extensions {
		v.Extensions[i] = extension{OID: e.Id.String(), Critical: e.Critical, ValueHex: hex.EncodeToString(e.Value)}
	}
	for i, u := range csr.URIs {
		v.URIs[i] = u.String()
	}
	for i, ip := range csr.IPAddresses {
		v.IPsHex[i] = hex.EncodeToString(ip)
	}
	if err := csr.CheckSignature(); err != nil {
		v.CheckSignature = err.Error()
	}
	return v
}

func parse(id int64, request []byte) parseResult {
	out := parseResult{ID: id, PemHeaders: map[string]string{}}
	block, rest := pem.Decode(request)
	out.RestHex = hex.EncodeToString(rest)
	if block != nil {
		out.PemType, out.PemHeaders, out.DerHex = block.Type, block.Headers, hex.EncodeToString(block.Bytes)
	}
	// The error text of k8s.io/kubernetes pkg/apis/certificates/v1/helpers.go ParseCSR.
	if block == nil || block.Type != "CERTIFICATE REQUEST" {
		out.Stage, out.Error = "pem", "PEM block type must be CERTIFICATE REQUEST"
		return out
	}
	csr, err := x509.ParseCertificateRequest(block.Bytes)
	if err != nil {
		out.Stage, out.Error = "parse", err.Error()
		return out
	}
	out.Stage, out.View = "ok", makeView(csr)
	return out
}

func create(in *input) createResult {
	out := createResult{ID: *in.ID}
	block, _ := pem.Decode([]byte(*in.KeyPem))
	if block == nil {
		out.Error = "keyPem: no PEM block"
		return out
	}
	key, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		out.Error = "keyPem: " + err.Error()
		return out
	}
	template := x509.CertificateRequest{
		Subject:  pkix.Name{CommonName: in.CommonName, Organization: in.Organization},
		DNSNames: in.DNSNames,
	}
	for _, s := range in.IPs {
		ip := net.ParseIP(s)
		if ip == nil {
			out.Error = fmt.Sprintf("ips: %q is not an IP address", s)
			return out
		}
		template.IPAddresses = append(template.IPAddresses, ip)
	}
	// client-go util/cert/csr.go sigType: RSA keys get SHA-256/384/512 by
	// size; every other key gets UnknownSignatureAlgorithm, which
	// CreateCertificateRequest replaces with the key's default.
	if k, ok := key.(*rsa.PrivateKey); ok {
		switch bits := k.N.BitLen(); {
		case bits >= 4096:
			template.SignatureAlgorithm = x509.SHA512WithRSA
		case bits >= 3072:
			template.SignatureAlgorithm = x509.SHA384WithRSA
		default:
			template.SignatureAlgorithm = x509.SHA256WithRSA
		}
	}
	signer, ok := key.(crypto.Signer)
	if !ok {
		out.Error = fmt.Sprintf("keyPem: %T is not a crypto.Signer", key)
		return out
	}
	der, err := x509.CreateCertificateRequest(rand.Reader, &template, signer)
	if err != nil {
		out.Error = err.Error()
		return out
	}
	out.Pem = string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der}))
	return out
}

func mustMarshal(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		// Only reachable through a bug here; still one line per input line.
		b, _ = json.Marshal(inputError{ID: -1, Stage: "panic", Error: "json: " + err.Error()})
	}
	return b
}

// lineID reads "id" from a line that did not decode as a whole.
func lineID(line []byte) int64 {
	var probe struct {
		ID *int64 `json:"id"`
	}
	if json.Unmarshal(line, &probe) == nil && probe.ID != nil {
		return *probe.ID
	}
	return -1
}

func handle(line []byte) (reply []byte) {
	id := int64(-1)
	defer func() {
		if r := recover(); r != nil {
			reply = mustMarshal(panicResult{ID: id, Stage: "panic", Error: fmt.Sprintf("panic: %v", r), Panic: fmt.Sprintf("%v\n%s", r, debug.Stack())})
		}
	}()
	var in input
	if err := json.Unmarshal(line, &in); err != nil {
		return mustMarshal(inputError{ID: lineID(line), Stage: "input", Error: err.Error()})
	}
	if in.ID == nil {
		return mustMarshal(inputError{ID: -1, Stage: "input", Error: `missing "id"`})
	}
	id = *in.ID
	switch in.Op {
	case "parse":
		if in.Request == nil {
			return mustMarshal(inputError{ID: id, Stage: "input", Error: `parse: missing "request"`})
		}
		request, err := base64.StdEncoding.DecodeString(*in.Request)
		if err != nil {
			return mustMarshal(inputError{ID: id, Stage: "input", Error: "parse: request: " + err.Error()})
		}
		return mustMarshal(parse(id, request))
	case "create":
		if in.KeyPem == nil {
			return mustMarshal(inputError{ID: id, Stage: "input", Error: `create: missing "keyPem"`})
		}
		return mustMarshal(create(&in))
	case "panic":
		// Exercises the per-request recovery above (test/interop/go-csr-twin.test.ts).
		panic("requested by op panic")
	default:
		return mustMarshal(inputError{ID: id, Stage: "input", Error: fmt.Sprintf("unknown op %q", in.Op)})
	}
}

type job struct {
	line  []byte
	reply chan []byte
}

func main() {
	jobs := make(chan job, 1024)
	// Replies leave in the order their lines arrived: the writer waits on each
	// job's own channel in turn.
	order := make(chan chan []byte, 8192)
	for i := 0; i < runtime.GOMAXPROCS(0); i++ {
		go func() {
			for j := range jobs {
				j.reply <- handle(j.line)
			}
		}()
	}
	go func() {
		in := bufio.NewReaderSize(os.Stdin, 1<<20)
		for {
			line, err := in.ReadBytes('\n')
			if len(line) > 0 {
				reply := make(chan []byte, 1)
				order <- reply
				jobs <- job{line: line, reply: reply}
			}
			if err != nil {
				if !errors.Is(err, io.EOF) {
					fmt.Fprintln(os.Stderr, "go-csr-twin: stdin:", err)
				}
				break
			}
		}
		close(jobs)
		close(order)
	}()
	out := bufio.NewWriterSize(os.Stdout, 1<<20)
	for reply := range order {
		b := <-reply
		b = append(b, '\n')
		if _, err := out.Write(b); err != nil {
			fmt.Fprintln(os.Stderr, "go-csr-twin: stdout:", err)
			os.Exit(1)
		}
		if len(order) == 0 {
			if err := out.Flush(); err != nil {
				fmt.Fprintln(os.Stderr, "go-csr-twin: stdout:", err)
				os.Exit(1)
			}
		}
	}
	if err := out.Flush(); err != nil {
		fmt.Fprintln(os.Stderr, "go-csr-twin: stdout:", err)
		os.Exit(1)
	}
}
