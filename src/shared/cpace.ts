// CPace (draft-irtf-cfrg-cpace), the balanced PAKE, over ristretto255 with
// SHA-512: both sides derive a generator from the password (PRS), the channel
// identifier (CI) and the session id (sid), send a random multiple of it, and
// hash the shared point with the transcript into the intermediate session key
// (ISK). A share reveals nothing about the password; a party that guessed
// wrong gets an unrelated ISK, so each guess costs one live exchange. The
// group arithmetic is @noble/curves'; this file only follows the draft's
// byte layout (lv_cat, generator_string, transcript_ir).
import { ristretto255, ristretto255_hasher } from "@noble/curves/ed25519.js";
import { bytesToNumberLE, concatBytes } from "@noble/curves/utils.js";
import { sha512 } from "@noble/hashes/sha2.js";

const encoder = new TextEncoder();
const DSI = encoder.encode("CPaceRistretto255");
const DSI_ISK = encoder.encode("CPaceRistretto255_ISK");
/** SHA-512's input block size, which the generator string is padded toward. */
const S_IN_BYTES = 128;

const Point = ristretto255.Point;
type RistrettoPoint = InstanceType<typeof Point>;

/** LEB128, as the draft's prepend_len uses. */
function leb128(length: number): Uint8Array {
  const bytes: number[] = [];
  do {
    let byte = length & 0x7f;
    length >>>= 7;
    if (length > 0) byte |= 0x80;
    bytes.push(byte);
  } while (length > 0);
  return Uint8Array.from(bytes);
}

function prependLen(data: Uint8Array): Uint8Array {
  return concatBytes(leb128(data.length), data);
}

/** lv_cat: each part prefixed with its length, so no two lists of parts encode alike. */
export function lvCat(...parts: Uint8Array[]): Uint8Array {
  return concatBytes(...parts.map(prependLen));
}

/** generator_string(DSI, PRS, CI, sid, s_in_bytes): the password sits in the first hash block, zero-padded. */
export function generatorString(prs: Uint8Array, ci: Uint8Array, sid: Uint8Array): Uint8Array {
  const padding = Math.max(0, S_IN_BYTES - 1 - prependLen(prs).length - prependLen(DSI).length);
  return lvCat(DSI, prs, new Uint8Array(padding), ci, sid);
}

/** calculate_generator: SHA-512 of the generator string, mapped to the group by RFC 9496 element derivation; encoded. */
export function calculateGenerator(prs: Uint8Array, ci: Uint8Array, sid: Uint8Array): Uint8Array {
  return ristretto255_hasher.deriveToCurve!(sha512(generatorString(prs, ci, sid))).toBytes();
}

/** sample_scalar: uniform in [1, L) from 64 random bytes reduced mod L. */
export function sampleScalar(): bigint {
  for (;;) {
    const scalar = Point.Fn.create(bytesToNumberLE(crypto.getRandomValues(new Uint8Array(64))));
    if (scalar !== 0n) return scalar;
  }
}

/** The share this side sends: scalar · generator, encoded (32 bytes). */
export function cpaceShare(generator: Uint8Array, scalar: bigint): Uint8Array {
  return Point.fromBytes(generator).multiply(scalar).toBytes();
}

/** Both shares and their associated data, initiator first (transcript_ir). */
export interface CpaceTranscript {
  initiatorShare: Uint8Array;
  initiatorData: Uint8Array;
  responderShare: Uint8Array;
  responderData: Uint8Array;
}

/**
 * The ISK (64 bytes), or null when the peer's share is not a valid encoding
 * or yields the identity (scalar_mult_vfy aborts then).
 */
export function cpaceIsk(scalar: bigint, peerShare: Uint8Array, sid: Uint8Array, transcript: CpaceTranscript): Uint8Array | null {
  let peer: RistrettoPoint;
  try {
    peer = Point.fromBytes(peerShare);
  } catch {
    return null;
  }
  const shared = peer.multiply(scalar);
  if (shared.is0()) return null;
  const { initiatorShare, initiatorData, responderShare, responderData } = transcript;
  return sha512(concatBytes(lvCat(DSI_ISK, sid, shared.toBytes()), lvCat(initiatorShare, initiatorData), lvCat(responderShare, responderData)));
}
