"""The 国密 suite (GB/T 39786): SM3, SM4, SM2 against published vectors, the keys, and the ledger's record.

Which vectors are official:

* SM3: GB/T 32905-2016 appendix A, examples 1 ("abc") and 2 ("abcd" × 16).
* SM4: GB/T 32907-2016 appendix A, examples 1 (one block) and 2 (the same block encrypted 1,000,000
  times, about 0.3 s here).
* SM4-GCM: RFC 8998 appendix A.1 (the IETF's SM4-GCM vector; GB/T 32907 defines no GCM example).
* SM2: GB/T 32918.2-2016 appendix A (= GM/T 0003.2 annex A) example: its example 256-bit curve, id
  ``ALICE123@YAHOO.COM``, message "message digest", fixed k: Z_A, e and (r, s) are the published ones.
  On the standard curve sm2p256v1 there is no published signature with a fixed k that we rely on, so
  there the tests are a round trip, a cross-check with gmssl's own ``sign_with_sm3`` /
  ``verify_with_sm3`` (the default id ``1234567812345678``, Z_A included) and, when the ``openssl``
  command has SM2, a check in both directions with OpenSSL, a third implementation.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from gmssl.sm2 import CryptSM2
from sqlalchemy import text

from fengqiao.settings import Settings
from fengqiao.streams import sm2
from fengqiao.streams.crypto import (
    Sha256Ed25519,
    Sm3Sm2,
    SuiteKeyError,
    export_public_key,
    load_key,
    load_or_create_key,
    suite_for,
)
from fengqiao.streams.ledger import Ledger, LedgerRecord, LedgerSuiteError
from fengqiao.streams.personal.cipher import CIPHERS, CannotOpen, Sm4Gcm, cipher

# -- SM3 (GB/T 32905-2016 appendix A) -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("msg", "digest"),
    [
        (b"abc", "66c7f0f462eeedd9d1f2d46bdc10e4e24167c4875cf2f7a2297da02b8f4ba8e0"),
        (b"abcd" * 16, "debe9ff92275b8a138604889c18e5a4d6fdb70e5387e5765293dcba39c0c5732"),
    ],
)
def test_sm3_published_examples(msg: bytes, digest: str) -> None:
    assert Sm3Sm2().digest(msg).hex() == digest
    assert Sm3Sm2.digest_size == 32


# -- SM4 (GB/T 32907-2016 appendix A) and SM4-GCM (RFC 8998 A.1) ----------------------------------------

SM4_KEY = bytes.fromhex("0123456789abcdeffedcba9876543210")


def test_sm4_published_example_1_one_block() -> None:
    enc = Cipher(algorithms.SM4(SM4_KEY), modes.ECB()).encryptor()
    assert enc.update(SM4_KEY).hex() == "681edf34d206965e86b3e94f536e4246"


def test_sm4_published_example_2_a_million_encryptions() -> None:
    enc = Cipher(algorithms.SM4(SM4_KEY), modes.ECB()).encryptor()
    block = SM4_KEY
    for _ in range(1_000_000):
        block = enc.update(block)
    assert block.hex() == "595298c7c6fd271f0402f804c33d3f66"


def test_sm4_gcm_opens_the_rfc8998_vector() -> None:
    nonce = bytes.fromhex("00001234567800000000ABCD")
    aad = bytes.fromhex("FEEDFACEDEADBEEFFEEDFACEDEADBEEFABADDAD2")
    plaintext = bytes.fromhex(
        "AAAAAAAAAAAAAAAABBBBBBBBBBBBBBBBCCCCCCCCCCCCCCCCDDDDDDDDDDDDDDDD"
        "EEEEEEEEEEEEEEEEFFFFFFFFFFFFFFFFEEEEEEEEEEEEEEEEAAAAAAAAAAAAAAAA"
    )
    sealed = nonce + bytes.fromhex(
        "17F399F08C67D5EE19D0DC9969C4BB7D5FD46FD3756489069157B282BB200735"
        "D82710CA5C22F0CCFA7CBF93D496AC15A56834CBCF98C397B4024A2691233B8D"
        "83DE3541E4C2B58177E065A9BF7B62EC"
    )
    assert Sm4Gcm().open(SM4_KEY, sealed, aad) == plaintext


def test_sm4_gcm_round_trip_and_every_tamper_refused() -> None:
    c = cipher("sm4-gcm")
    assert isinstance(c, Sm4Gcm) and CIPHERS["sm4-gcm"] is c and c.key_size == 16
    key, aad = bytes(range(16)), b"sm4-gcm|person-1|v1"
    sealed = c.seal(key, "张三 110101199003071234".encode(), aad)
    assert len(sealed) == 12 + len("张三 110101199003071234".encode()) + 16
    assert c.open(key, sealed, aad).decode() == "张三 110101199003071234"
    assert c.seal(key, b"x", aad)[:12] != c.seal(key, b"x", aad)[:12]  # a fresh nonce each time
    for i in (0, 12, len(sealed) - 1):  # nonce, ciphertext, tag
        bad = bytearray(sealed)
        bad[i] ^= 1
        with pytest.raises(CannotOpen):
            c.open(key, bytes(bad), aad)
    for k, a, s in ((bytes(16), aad, sealed), (key, aad + b"x", sealed), (key, aad, sealed[:20])):
        with pytest.raises(CannotOpen):
            c.open(k, s, a)
    with pytest.raises(CannotOpen):
        c.open(bytes(32), sealed, aad)  # an AES-256 key is not an SM4 key


def test_the_suite_picks_the_field_cipher(monkeypatch: pytest.MonkeyPatch) -> None:
    assert (Settings().ledger_suite, Settings().field_cipher) == ("sha256-ed25519", "aes-256-gcm")
    monkeypatch.setenv("FENGQIAO_CRYPTO_SUITE", "gm")
    s = Settings()
    assert (s.crypto_suite, s.ledger_suite, s.field_cipher) == ("gm", "sm3-sm2", "sm4-gcm")
    assert cipher(s.field_cipher).name == "sm4-gcm"
    monkeypatch.setenv("FENGQIAO_CRYPTO_SUITE", "sm9")
    with pytest.raises(ValueError, match="crypto_suite"):
        Settings()


# -- SM2 (GB/T 32918.2-2016 appendix A) -------------------------------------------------------------------

EXAMPLE_CURVE = sm2.Curve(  # the standard's example curve over F_p (not sm2p256v1)
    p="8542D69E4C044F18E8B92435BF6FF7DE457283915C45517D722EDB8B08F1DFC3",
    a="787968B4FA32C3FD2417842E73BBFEFF2F3C848B6831D7E0EC65228B3937E498",
    b="63E4C6D3B23B0C849CF84241484BFE48F61D59A5B16BA06E6E12D1DA27C5249A",
    g="421DEBD61B62EAB6746434EBC3CC315E32220B3BADD50BDC4C4E6C147FEDD43D"
    "0680512BCBB42C07D47349D2153B70C4E5D7FDFCBFA36EA1A85841B9E46E09A2",
    n="8542D69E4C044F18E8B92435BF6FF7DD297720630485628D5AE74EE7C32E79B7",
)
ALICE = b"ALICE123@YAHOO.COM"
D_A = 0x128B2FA8BD433C6C068C8D803DFF79792A519A55171B1B650C23661D15897263
K = 0x6CB28D99385C175C94F94E934817663FC176D925DD72B727260DBAAE1FB2F96F
R_S = (
    "40F1EC59F793D9F49E09DCEF49130D4194F79FB1EED2CAA55BACDB49C4E755D1"
    "6FC6DAC32C5D5CF10C77DFB20F7C2EB667A457872FB09EC56327A67EC7DEEBE7"
)


def test_sm2_published_example() -> None:
    public = sm2.public_point(D_A, EXAMPLE_CURVE)
    assert public.hex().upper() == (
        "04"
        "0AE4C7798AA0F119471BEE11825BE46202BB79E2A5844495E97C04FF4DF2548A"
        "7C0240F88F1CD4E16352A73C17B7F16F07353E53A176D684A9FE0C6BB798E857"
    )
    z = sm2.z_a(public, ALICE, EXAMPLE_CURVE)
    assert z.hex().upper() == "F4A38489E32B45B6F876E3AC2168CA392362DC8F23459C1D1146FC3DBFB7BC9A"
    e = sm2.message_digest(public, b"message digest", ALICE, EXAMPLE_CURVE)
    assert e.hex().upper() == "B524F552CD82B8B028476E005C377FB19A87E6FC682D48BB5D42E3D9B9EFFE76"
    sig = sm2.sign(D_A, b"message digest", ALICE, EXAMPLE_CURVE, k=K)
    assert sig.hex().upper() == R_S
    assert sm2.verify(public, b"message digest", sig, ALICE, EXAMPLE_CURVE)
    assert not sm2.verify(public, b"message digesT", sig, ALICE, EXAMPLE_CURVE)
    assert not sm2.verify(public, b"message digest", sig, b"BOB", EXAMPLE_CURVE)  # the id is signed


def test_sm2_on_the_standard_curve_matches_gmssls_own_z_a_and_default_id() -> None:
    d = 0x3945208F7B2144B13F36E38AC6D39F95889393692860B51A42FB81EF4DF7C5B8  # a fixed key
    public = sm2.public_point(d)
    # x || y without the 04: given "04" + "09f9…", gmssl's lstrip("04") would eat the 0 of x too.
    theirs = CryptSM2(private_key=f"{d:064x}", public_key=public[1:].hex())
    k = 0x59276E27D506861A16680F3AD9C02DCCEF3CC1FA3CDBE4CE6D54B80DEAC1BC21
    msg = b"checkpoint heads"
    ours = sm2.sign(d, msg, k=k)
    assert ours.hex() == theirs.sign_with_sm3(msg, f"{k:064x}")  # same Z_A, same e, same (r, s)
    assert theirs.verify_with_sm3(ours.hex(), msg)
    assert sm2.verify(public, msg, bytes.fromhex(theirs.sign_with_sm3(msg)))
    assert sm2.verify(public, msg, sm2.sign(d, msg))  # a random k from `secrets`


def test_sm2_refuses_malformed_signatures_and_keys() -> None:
    d = sm2.generate()
    public, msg = sm2.public_point(d), b"m"
    sig = sm2.sign(d, msg)
    n = int(sm2.SM2P256V1.n, 16)
    for bad in (
        sig[:63],
        bytes(64),
        sig[:32] + bytes(32),  # s = 0
        n.to_bytes(32, "big") + sig[32:],  # r = n
        sig[:32] + (int.from_bytes(sig[32:], "big") ^ 1).to_bytes(32, "big"),
    ):
        assert not sm2.verify(public, msg, bad)
    off_curve = public[:-1] + bytes([public[-1] ^ 1])
    assert not sm2.on_curve(off_curve) and not sm2.verify(off_curve, msg, sig)
    suite = Sm3Sm2(d)
    assert not suite.verify(b"garbage", msg, sig)
    assert not suite.verify(Sha256Ed25519.generate().public_key(), msg, sig)


@pytest.mark.skipif(shutil.which("openssl") is None, reason="no openssl command")
def test_sm2_keys_and_signatures_interoperate_with_openssl(tmp_path: Path) -> None:
    curves = subprocess.run(["openssl", "ecparam", "-list_curves"], capture_output=True, text=True).stdout
    if "SM2" not in curves:
        pytest.skip("this openssl has no SM2")
    suite = load_or_create_key(tmp_path / "key.pem", "sm3-sm2")
    export_public_key(suite, tmp_path / "pub.pem")
    derived = subprocess.run(
        ["openssl", "pkey", "-in", str(tmp_path / "key.pem"), "-pubout"], capture_output=True, check=True
    ).stdout
    assert derived == (tmp_path / "pub.pem").read_bytes()  # OpenSSL reads both forms
    msg = b'{"created_at":"2026-12-08T01:00:00.000000Z","heads":{},"previous":"","suite":"sm3-sm2"}'
    (tmp_path / "msg").write_bytes(msg)
    sig = suite.sign(msg)
    (tmp_path / "sig.der").write_bytes(_der_signature(sig))
    common = ["-rawin", "-digest", "sm3", "-pkeyopt", "distid:1234567812345678", "-in", str(tmp_path / "msg")]
    pub = ["-pubin", "-inkey", str(tmp_path / "pub.pem")]
    ok = subprocess.run(
        ["openssl", "pkeyutl", "-verify", *pub, *common, "-sigfile", str(tmp_path / "sig.der")],
        capture_output=True,
        text=True,
    )
    assert "Signature Verified Successfully" in ok.stdout, ok.stdout + ok.stderr
    subprocess.run(
        [
            "openssl",
            "pkeyutl",
            "-sign",
            "-inkey",
            str(tmp_path / "key.pem"),
            *common,
            "-out",
            str(tmp_path / "theirs.der"),
        ],
        capture_output=True,
        check=True,
    )
    assert suite.verify(suite.public_key(), msg, _raw_signature((tmp_path / "theirs.der").read_bytes()))


def _der_signature(sig: bytes) -> bytes:
    def integer(b: bytes) -> bytes:
        b = b.lstrip(b"\0") or b"\0"
        b = b"\0" + b if b[0] & 0x80 else b
        return b"\x02" + bytes([len(b)]) + b

    body = integer(sig[:32]) + integer(sig[32:])
    return b"\x30" + bytes([len(body)]) + body


def _raw_signature(der: bytes) -> bytes:
    assert der[0] == 0x30
    r_len = der[3]
    r = der[4 : 4 + r_len]
    s = der[4 + r_len + 2 :]
    return int.from_bytes(r, "big").to_bytes(32, "big") + int.from_bytes(s, "big").to_bytes(32, "big")


# -- keys -------------------------------------------------------------------------------------------------


def test_sm2_key_file_public_key_forms_and_verify_only_suite(tmp_path: Path) -> None:
    path = tmp_path / "ledger-key.pem"
    suite = load_or_create_key(path, "sm3-sm2")
    assert isinstance(suite, Sm3Sm2) and path.stat().st_mode & 0o777 == 0o600
    assert path.read_bytes().startswith(b"-----BEGIN EC PRIVATE KEY-----")
    assert (
        load_key(path).public_key() == suite.public_key() == load_or_create_key(path, "sm3-sm2").public_key()
    )
    pem = suite.public_key()
    assert pem.startswith(b"-----BEGIN PUBLIC KEY-----")
    raw = sm2.load_public(pem)
    assert raw[0] == 4 and len(raw) == 65
    assert suite.fingerprint(pem) == suite.fingerprint(raw)
    auditor = suite_for("sm3-sm2", pem)
    assert isinstance(auditor, Sm3Sm2) and not auditor.can_sign
    assert auditor.verify(pem, b"m", suite.sign(b"m")) and auditor.verify(raw, b"m", suite.sign(b"m"))
    with pytest.raises(SuiteKeyError, match="verify-only"):
        auditor.sign(b"m")
    with pytest.raises(SuiteKeyError, match="sha256-ed25519"):
        load_or_create_key(path, "sha256-ed25519")
    with pytest.raises(SuiteKeyError, match="unknown suite"):
        suite_for("sm9")


# -- the ledger records its suite ---------------------------------------------------------------------------


def _rec(offset: int) -> LedgerRecord:
    return LedgerRecord.from_kafka("fq.release", 0, offset, b"XS-1", b"v", [], 1_700_000_000_000 + offset)


@pytest.mark.parametrize(("first", "second"), [(Sm3Sm2, Sha256Ed25519), (Sha256Ed25519, Sm3Sm2)])
def test_a_ledger_refuses_the_other_suite(
    tmp_path: Path, first: type[Sm3Sm2] | type[Sha256Ed25519], second: type[Sm3Sm2] | type[Sha256Ed25519]
) -> None:
    url = f"sqlite:///{tmp_path / 'ledger.db'}"
    with Ledger(url, first.generate()) as led:
        led.append([_rec(0), _rec(1)])
        led.checkpoint()
        pem = led.suite.public_key()
    with pytest.raises(LedgerSuiteError) as refused:
        Ledger(url, second.generate())
    assert first.name in str(refused.value) and second.name in str(refused.value)
    with Ledger(url) as auditor:  # no suite given: the recorded one, verify-only
        assert auditor.suite.name == first.name and not auditor.suite.can_sign  # type: ignore[attr-defined]
        assert auditor.verify(pem).ok
        with pytest.raises(SuiteKeyError, match=first.name):
            auditor.verify(second.generate().public_key())


def test_the_suite_is_recorded_by_the_first_write_when_no_opener_named_one(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'ledger.db'}"
    with Ledger(url, suite_for("sm3-sm2")) as appender:  # a worker: the deployment's suite, no key
        appender.append([_rec(0)])
        with appender._engine.connect() as conn:
            assert (
                conn.execute(text("SELECT value FROM ledger_meta WHERE name = 'suite'")).scalar() == "sm3-sm2"
            )
    with pytest.raises(LedgerSuiteError):
        Ledger(url, Sha256Ed25519.generate())
    with Ledger(url) as auditor:  # verify recomputes the chain with SM3: the appender hashed with SM3
        assert auditor.suite.name == "sm3-sm2" and auditor.verify().ok


def test_a_ledger_from_before_the_record_is_sha256(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'ledger.db'}"
    with Ledger(url, Sha256Ed25519.generate()) as led:
        led.append([_rec(0)])
        with led._engine.begin() as conn:
            conn.execute(text("DELETE FROM ledger_meta"))  # as an older hub left it
    with pytest.raises(LedgerSuiteError, match="sha256-ed25519"):
        Ledger(url, Sm3Sm2.generate())
    with Ledger(url) as led:
        assert led.suite.name == "sha256-ed25519" and led.verify().ok
