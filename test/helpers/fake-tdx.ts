import { createHash, generateKeyPairSync, randomBytes, sign, type KeyObject } from 'node:crypto';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Collateral } from '@phala/dcap-qvl';

/**
 * A whole fake Intel TDX attestation world, built at runtime for tests that have no TDX hardware: a test root CA, a PCK
 * Processor CA, a PCK leaf certificate carrying the Intel SGX extension, a TCB signing certificate, both CRLs, TCB info
 * and QE identity signed the way Intel signs them, a signed QE report, and quotes (v4, TDX) signed by a fake attestation
 * key. dcap-qvl accepts these quotes when told to trust `rootCaDer` (`QuoteVerifier.newWithRootCa`) and refuses them
 * with Intel's production root, which is exactly what the verify command must do.
 *
 * Everything is DER-encoded by hand below (no certificate library): the structures are few and fixed, and owning the
 * bytes keeps the fake independent of any package beyond node:crypto.
 */

export interface FakeQuoteInput {
  /** 64 bytes, goes into the TD report's REPORTDATA. */
  reportData: Buffer;
  /** 4 × 48 bytes (RTMR0..3); default all zero. */
  rtmrs?: Buffer[];
  /** 48 bytes; default a fixed value. */
  mrTd?: Buffer;
  /** Sets the TD attributes DEBUG bit (bit 0 of td_attributes); dcap-qvl then refuses the quote. */
  debug?: boolean;
}

export interface FakeTdx {
  /** The test root CA certificate, DER. */
  rootCaDer: Buffer;
  rootCaPem: string;
  /** Valid from one hour ago to 30 days ahead, for this fake platform. */
  collateral: Collateral;
  /** A TDX v4 quote (tee type 0x81), signed by the fake attestation key. */
  quote(input: FakeQuoteInput): Buffer;
  /** A fake PCCS on 127.0.0.1 answering the requests dcap-qvl's getCollateral(url, quote) makes, from `collateral`. */
  pccs(): Promise<{ url: string; requests: string[]; close(): Promise<void> }>;
}

// ---------------------------------------------------------------------------------------------------------------------
// Minimal DER encoding
// ---------------------------------------------------------------------------------------------------------------------

function tlv(tag: number, content: Buffer): Buffer {
  const len = content.length;
  let header: Buffer;
  if (len < 0x80) header = Buffer.from([tag, len]);
  else if (len < 0x100) header = Buffer.from([tag, 0x81, len]);
  else if (len < 0x10000) header = Buffer.from([tag, 0x82, len >> 8, len & 0xff]);
  else throw new Error('DER content too long');
  return Buffer.concat([header, content]);
}

const seq = (...items: Buffer[]): Buffer => tlv(0x30, Buffer.concat(items));
const set = (...items: Buffer[]): Buffer => tlv(0x31, Buffer.concat(items));
const octets = (b: Buffer): Buffer => tlv(0x04, b);
const utf8 = (s: string): Buffer => tlv(0x0c, Buffer.from(s, 'utf8'));
const printable = (s: string): Buffer => tlv(0x13, Buffer.from(s, 'ascii'));
const bool = (v: boolean): Buffer => tlv(0x01, Buffer.from([v ? 0xff : 0x00]));
const bitString = (b: Buffer, unusedBits = 0): Buffer => tlv(0x03, Buffer.concat([Buffer.from([unusedBits]), b]));
const explicit = (n: number, content: Buffer): Buffer => tlv(0xa0 + n, content);

/** A non-negative INTEGER from its big-endian magnitude. */
function uint(magnitude: Buffer | number): Buffer {
  let b = magnitude;
  if (typeof b === 'number') {
    const hex = b.toString(16);
    b = Buffer.from(hex.length % 2 ? `0${hex}` : hex, 'hex');
  }
  while (b.length > 1 && b[0] === 0) b = b.subarray(1);
  if ((b[0] ?? 0) & 0x80) b = Buffer.concat([Buffer.from([0]), b]);
  return tlv(0x02, b);
}

function enumerated(n: number): Buffer {
  return tlv(0x0a, Buffer.from([n]));
}

function oid(dotted: string): Buffer {
  const parts = dotted.split('.').map(Number);
  const [first = 0, second = 0, ...rest] = parts;
  const bytes: number[] = [first * 40 + second];
  for (const part of rest) {
    const chunk: number[] = [part & 0x7f];
    for (let v = Math.floor(part / 128); v > 0; v = Math.floor(v / 128)) chunk.unshift((v & 0x7f) | 0x80);
    bytes.push(...chunk);
  }
  return tlv(0x06, Buffer.from(bytes));
}

/** UTCTime (years before 2050), as X.509 requires for those years. */
function utcTime(d: Date): Buffer {
  const iso = d.toISOString(); // YYYY-MM-DDTHH:MM:SS.sssZ
  const s = iso.slice(2, 4) + iso.slice(5, 7) + iso.slice(8, 10) + iso.slice(11, 13) + iso.slice(14, 16) + iso.slice(17, 19) + 'Z';
  return tlv(0x17, Buffer.from(s, 'ascii'));
}

// ---------------------------------------------------------------------------------------------------------------------
// Certificates and CRLs
// ---------------------------------------------------------------------------------------------------------------------

const ECDSA_WITH_SHA256 = seq(oid('1.2.840.10045.4.3.2'));
const HOUR = 3600_000;
const DAY = 24 * HOUR;

interface Party {
  name: Buffer;
  key: KeyObject;
  spki: Buffer;
  keyId: Buffer;
}

function party(commonName: string): Party {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const spki = publicKey.export({ type: 'spki', format: 'der' });
  const rdn = (type: string, value: Buffer): Buffer => set(seq(oid(type), value));
  const name = seq(
    rdn('2.5.4.3', utf8(commonName)),
    rdn('2.5.4.10', utf8('oauth3 test PKI (not Intel)')),
    rdn('2.5.4.7', utf8('Santa Clara')),
    rdn('2.5.4.8', utf8('CA')),
    rdn('2.5.4.6', printable('US')),
  );
  // The subject key identifier is the SHA-1 of the public key bits (the last 65 bytes of a P-256 SPKI).
  const keyId = createHash('sha1')
    .update(spki.subarray(spki.length - 65))
    .digest();
  return { name, key: privateKey, spki, keyId };
}

function extension(id: string, critical: boolean, value: Buffer): Buffer {
  return critical ? seq(oid(id), bool(true), octets(value)) : seq(oid(id), octets(value));
}

function signDer(key: KeyObject, data: Buffer): Buffer {
  return sign('sha256', data, { key, dsaEncoding: 'der' });
}

/** Raw r‖s, the form Intel uses for TCB info, QE identity, QE report and quote signatures. */
function signRaw(key: KeyObject, data: Buffer): Buffer {
  return sign('sha256', data, { key, dsaEncoding: 'ieee-p1363' });
}

function certificate(opts: { subject: Party; issuer: Party; ca: boolean; notBefore: Date; notAfter: Date; extra?: Buffer[] }): Buffer {
  const { subject, issuer, ca } = opts;
  const serial = randomBytes(16);
  serial[0] = ((serial[0] ?? 0) & 0x7f) | 0x01; // positive, no leading zero byte
  const extensions = [
    extension('2.5.29.35', false, seq(tlv(0x80, issuer.keyId))), // authorityKeyIdentifier
    extension('2.5.29.14', false, octets(subject.keyId)), // subjectKeyIdentifier
    // keyUsage: keyCertSign + cRLSign for CAs, digitalSignature + nonRepudiation for leaves (as Intel's certificates)
    extension('2.5.29.15', true, ca ? bitString(Buffer.from([0x06]), 1) : bitString(Buffer.from([0xc0]), 6)),
    extension('2.5.29.19', true, ca ? seq(bool(true), uint(subject === issuer ? 1 : 0)) : seq()), // basicConstraints
    ...(opts.extra ?? []),
  ];
  const tbs = seq(
    explicit(0, uint(2)), // v3
    uint(serial),
    ECDSA_WITH_SHA256,
    issuer.name,
    seq(utcTime(opts.notBefore), utcTime(opts.notAfter)),
    subject.name,
    subject.spki,
    explicit(3, seq(...extensions)),
  );
  return seq(tbs, ECDSA_WITH_SHA256, bitString(signDer(issuer.key, tbs)));
}

/** An empty (nothing revoked) v2 CRL issued by `issuer`. */
function crl(issuer: Party, thisUpdate: Date, nextUpdate: Date): Buffer {
  const tbs = seq(
    uint(1), // v2
    ECDSA_WITH_SHA256,
    issuer.name,
    utcTime(thisUpdate),
    utcTime(nextUpdate),
    explicit(
      0,
      seq(
        extension('2.5.29.20', false, uint(1)), // cRLNumber
        extension('2.5.29.35', false, seq(tlv(0x80, issuer.keyId))),
      ),
    ),
  );
  return seq(tbs, ECDSA_WITH_SHA256, bitString(signDer(issuer.key, tbs)));
}

function pem(der: Buffer): string {
  const lines = der.toString('base64').match(/.{1,64}/g) ?? [];
  return `-----BEGIN CERTIFICATE-----\n${lines.join('\n')}\n-----END CERTIFICATE-----\n`;
}

// ---------------------------------------------------------------------------------------------------------------------
// The fake platform
// ---------------------------------------------------------------------------------------------------------------------

const SGX_EXT = '1.2.840.113741.1.13.1';
const FMSPC = Buffer.from('F0A3E7000000', 'hex'); // not a real platform family
const PCE_ID = Buffer.from('0000', 'hex');
const PCE_SVN = 11;
/** The platform's CPUSVN, component by component (the SGX TCB components of the TCB level). */
const CPU_SVN = Buffer.from([2, 2, 2, 2, 3, 1, 0, 5, 0, 0, 0, 0, 0, 0, 0, 0]);
/** The TD report's TEE_TCB_SVN (the TDX TCB components of the TCB level). */
const TEE_TCB_SVN = Buffer.from([5, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
const INTEL_QE_VENDOR_ID = Buffer.from('939A7233F79C4CA9940A0DB3957F0607', 'hex');
// The TD quoting enclave's identity, as Intel publishes it for TD_QE.
const QE_MRSIGNER = Buffer.from('DC9E2A7C6F948F17474E34A7FC43ED030F7C1563F1BABDDF6340C82E0E54A8C5', 'hex');
const QE_ISVPRODID = 2;
const QE_ISVSVN = 4;
const DEFAULT_MR_TD = createHash('sha384').update('oauth3 fake TD').digest();
const MR_SEAM = createHash('sha384').update('oauth3 fake TDX module').digest();
const XFAM = Buffer.from('e702060000000000', 'hex');
const SEPT_VE_DISABLE = 0x10; // byte 3 of td_attributes; dcap-qvl requires it

/** The Intel SGX extension of a PCK certificate: PPID, TCB (16 components, PCESVN, CPUSVN), PCE-ID, FMSPC, SGX type. */
function sgxExtension(ppid: Buffer): Buffer {
  const tcb = [...CPU_SVN].map((svn, i) => seq(oid(`${SGX_EXT}.2.${i + 1}`), uint(svn)));
  return seq(
    seq(oid(`${SGX_EXT}.1`), octets(ppid)),
    seq(oid(`${SGX_EXT}.2`), seq(...tcb, seq(oid(`${SGX_EXT}.2.17`), uint(PCE_SVN)), seq(oid(`${SGX_EXT}.2.18`), octets(CPU_SVN)))),
    seq(oid(`${SGX_EXT}.3`), octets(PCE_ID)),
    seq(oid(`${SGX_EXT}.4`), octets(FMSPC)),
    seq(oid(`${SGX_EXT}.5`), enumerated(0)), // Standard
  );
}

/** Intel's date form in TCB info and QE identity: ISO 8601 without milliseconds. */
const intelDate = (d: Date): string => d.toISOString().replace(/\.\d{3}Z$/, 'Z');

function u16(n: number): Buffer {
  const b = Buffer.alloc(2);
  b.writeUInt16LE(n);
  return b;
}

function u32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(n);
  return b;
}

function sized(name: string, b: Buffer | undefined, len: number, fallback: Buffer): Buffer {
  const value = b ?? fallback;
  if (value.length !== len) throw new Error(`${name} must be ${len} bytes, got ${value.length}`);
  return value;
}

export async function createFakeTdx(): Promise<FakeTdx> {
  const now = Date.now();
  const certFrom = new Date(now - HOUR);
  const certTo = new Date(now + 365 * DAY);
  const collateralFrom = new Date(now - HOUR);
  const collateralTo = new Date(now + 30 * DAY);

  const root = party('oauth3 test SGX Root CA');
  const pckCa = party('oauth3 test SGX PCK Processor CA');
  const pck = party('oauth3 test SGX PCK Certificate');
  const tcbSigner = party('oauth3 test SGX TCB Signing');

  const rootDer = certificate({ subject: root, issuer: root, ca: true, notBefore: certFrom, notAfter: certTo });
  const pckCaDer = certificate({ subject: pckCa, issuer: root, ca: true, notBefore: certFrom, notAfter: certTo });
  const pckDer = certificate({
    subject: pck,
    issuer: pckCa,
    ca: false,
    notBefore: certFrom,
    notAfter: certTo,
    extra: [extension(SGX_EXT, false, sgxExtension(randomBytes(16)))],
  });
  const tcbSignerDer = certificate({ subject: tcbSigner, issuer: root, ca: false, notBefore: certFrom, notAfter: certTo });

  const rootCaCrl = crl(root, collateralFrom, collateralTo);
  const pckCrl = crl(pckCa, collateralFrom, collateralTo);

  const tcbInfo = JSON.stringify({
    id: 'TDX',
    version: 3,
    issueDate: intelDate(collateralFrom),
    nextUpdate: intelDate(collateralTo),
    fmspc: FMSPC.toString('hex').toUpperCase(),
    pceId: PCE_ID.toString('hex').toUpperCase(),
    tcbType: 0,
    tcbEvaluationDataNumber: 17,
    tdxModule: { mrsigner: '00'.repeat(48), attributes: '0000000000000000', attributesMask: 'FFFFFFFFFFFFFFFF' },
    tcbLevels: [
      {
        tcb: {
          sgxtcbcomponents: [...CPU_SVN].map((svn) => ({ svn })),
          pcesvn: PCE_SVN,
          tdxtcbcomponents: [...TEE_TCB_SVN].map((svn) => ({ svn })),
        },
        tcbDate: '2024-03-13T00:00:00Z',
        tcbStatus: 'UpToDate',
      },
    ],
  });
  const qeIdentity = JSON.stringify({
    id: 'TD_QE',
    version: 2,
    issueDate: intelDate(collateralFrom),
    nextUpdate: intelDate(collateralTo),
    tcbEvaluationDataNumber: 17,
    miscselect: '00000000',
    miscselectMask: 'FFFFFFFF',
    attributes: '11000000000000000000000000000000',
    attributesMask: 'FBFFFFFFFFFFFFFF0000000000000000',
    mrsigner: QE_MRSIGNER.toString('hex').toUpperCase(),
    isvprodid: QE_ISVPRODID,
    tcbLevels: [{ tcb: { isvsvn: QE_ISVSVN }, tcbDate: '2024-03-13T00:00:00Z', tcbStatus: 'UpToDate' }],
  });

  const rootPem = pem(rootDer);
  const collateral: Collateral = {
    pck_crl_issuer_chain: pem(pckCaDer) + rootPem,
    root_ca_crl: rootCaCrl.toString('hex'),
    pck_crl: pckCrl.toString('hex'),
    tcb_info_issuer_chain: pem(tcbSignerDer) + rootPem,
    tcb_info: tcbInfo,
    tcb_info_signature: signRaw(tcbSigner.key, Buffer.from(tcbInfo, 'utf8')).toString('hex'),
    qe_identity_issuer_chain: pem(tcbSignerDer) + rootPem,
    qe_identity: qeIdentity,
    qe_identity_signature: signRaw(tcbSigner.key, Buffer.from(qeIdentity, 'utf8')).toString('hex'),
  };

  // The attestation key the (fake) TD quoting enclave signs quotes with, certified by a QE report the PCK key signs.
  const attestation = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const jwk = attestation.publicKey.export({ format: 'jwk' });
  const attestationPub = Buffer.concat([Buffer.from(jwk.x ?? '', 'base64url'), Buffer.from(jwk.y ?? '', 'base64url')]);
  const qeAuthData = Buffer.from(Array.from({ length: 32 }, (_, i) => i));
  const qeReport = Buffer.concat([
    CPU_SVN, // cpu_svn
    u32(0), // misc_select
    Buffer.alloc(28), // reserved
    Buffer.from('11000000000000000700000000000000', 'hex'), // attributes: INIT | MODE64BIT, not DEBUG
    createHash('sha256').update('oauth3 fake TD quoting enclave').digest(), // mr_enclave
    Buffer.alloc(32),
    QE_MRSIGNER,
    Buffer.alloc(96),
    u16(QE_ISVPRODID),
    u16(QE_ISVSVN),
    Buffer.alloc(60),
    createHash('sha256')
      .update(Buffer.concat([attestationPub, qeAuthData]))
      .digest(), // report_data[0..32]
    Buffer.alloc(32),
  ]);
  const pckChain = Buffer.from(pem(pckDer) + pem(pckCaDer) + rootPem, 'utf8');
  const qeCertificationData = Buffer.concat([
    qeReport,
    signRaw(pck.key, qeReport),
    u16(qeAuthData.length),
    qeAuthData,
    u16(5), // PCK certificate chain
    u32(pckChain.length),
    pckChain,
  ]);

  const header = Buffer.concat([
    u16(4), // version
    u16(2), // attestation key type: ECDSA-256 with P-256
    u32(0x81), // TEE type: TDX
    u16(QE_ISVSVN), // qe_svn
    u16(PCE_SVN), // pce_svn
    INTEL_QE_VENDOR_ID,
    Buffer.alloc(20), // user data
  ]);

  function quote(input: FakeQuoteInput): Buffer {
    const reportData = sized('reportData', input.reportData, 64, Buffer.alloc(64));
    const rtmrs = input.rtmrs ?? [0, 1, 2, 3].map(() => Buffer.alloc(48));
    if (rtmrs.length !== 4) throw new Error(`rtmrs must be 4 buffers, got ${rtmrs.length}`);
    const tdAttributes = Buffer.alloc(8);
    tdAttributes[0] = input.debug ? 0x01 : 0x00;
    tdAttributes[3] = SEPT_VE_DISABLE;
    const body = Buffer.concat([
      TEE_TCB_SVN,
      MR_SEAM,
      Buffer.alloc(48), // mr_signer_seam (Intel's TDX module)
      Buffer.alloc(8), // seam_attributes
      tdAttributes,
      XFAM,
      sized('mrTd', input.mrTd, 48, DEFAULT_MR_TD),
      Buffer.alloc(48), // mr_config_id
      Buffer.alloc(48), // mr_owner
      Buffer.alloc(48), // mr_owner_config
      ...rtmrs.map((r, i) => sized(`rtmrs[${i}]`, r, 48, r)),
      reportData,
    ]);
    const signed = Buffer.concat([header, body]);
    const authData = Buffer.concat([
      signRaw(attestation.privateKey, signed),
      attestationPub,
      u16(6), // QE report certification data
      u32(qeCertificationData.length),
      qeCertificationData,
    ]);
    return Buffer.concat([signed, u32(authData.length), authData]);
  }

  async function pccs(): Promise<{ url: string; requests: string[]; close(): Promise<void> }> {
    const requests: string[] = [];
    const chainHeader = (chain: string): string => encodeURIComponent(chain);
    const server = createServer((req, res) => {
      requests.push(req.url ?? '');
      const url = new URL(req.url ?? '/', 'http://127.0.0.1');
      const fmspc = FMSPC.toString('hex').toUpperCase();
      if (req.method !== 'GET') {
        res.writeHead(405).end();
      } else if (url.pathname === '/sgx/certification/v4/pckcrl') {
        res.writeHead(200, {
          'content-type': 'application/pkix-crl',
          'SGX-PCK-CRL-Issuer-Chain': chainHeader(collateral.pck_crl_issuer_chain),
        });
        res.end(pckCrl);
      } else if (url.pathname === '/tdx/certification/v4/tcb' && url.searchParams.get('fmspc')?.toUpperCase() === fmspc) {
        res.writeHead(200, { 'content-type': 'application/json', 'TCB-Info-Issuer-Chain': chainHeader(collateral.tcb_info_issuer_chain) });
        res.end(`{"tcbInfo":${collateral.tcb_info},"signature":"${String(collateral.tcb_info_signature)}"}`);
      } else if (url.pathname === '/tdx/certification/v4/qe/identity') {
        res.writeHead(200, {
          'content-type': 'application/json',
          'SGX-Enclave-Identity-Issuer-Chain': chainHeader(collateral.qe_identity_issuer_chain),
        });
        res.end(`{"enclaveIdentity":${collateral.qe_identity},"signature":"${String(collateral.qe_identity_signature)}"}`);
      } else if (url.pathname === '/sgx/certification/v4/rootcacrl') {
        // A PCCS answers with the root CA CRL hex-encoded (Intel's PCS serves it as DER from the CRL distribution point).
        res.writeHead(200, { 'content-type': 'text/plain' }).end(rootCaCrl.toString('hex'));
      } else {
        res.writeHead(404).end();
      }
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    return {
      url: `http://127.0.0.1:${port}`,
      requests,
      close: () =>
        new Promise<void>((resolve, reject) => {
          server.closeAllConnections();
          server.close((err) => (err ? reject(err) : resolve()));
        }),
    };
  }

  return { rootCaDer: rootDer, rootCaPem: rootPem, collateral, quote, pccs };
}
