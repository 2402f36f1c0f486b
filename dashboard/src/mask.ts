/**
 * Client-side masking of text that reaches staff without passing the server, such as the WebRTC data channel, which
 * is peer-to-peer. It mirrors `mask_chat` in src/domain/masking.rs (keep the two in step): Luhn-valid card numbers
 * (13-19 digits in whole groups separated by one or two spaces, tabs or dashes, found anywhere inside a longer run of
 * digit groups), SSNs (`123-45-6789`, or 9 digits after "SSN" / "social security number"), PINs and security codes
 * after their keyword (`PIN 1234`, `passcode: 123456`, `CVV 123`), then any other run of 10-20 digits, each become
 * `****`. The patterns are the Rust ones in their ASCII meaning (regex-lite has no Unicode classes or case folding),
 * so there are no `u` flags and `\s` is spelled out as ASCII whitespace.
 */

/** The replacement for masked data. */
export const MASK = '****';

/** A run of digit groups separated by one or two spaces, tabs or dashes; cards are searched inside it. */
const CARD_RUN = /\b\d+(?:[ \t-]{1,2}\d+)*\b/g;
const SSN = /\b\d{3}[- ]\d{2}[- ]\d{4}\b|\b(?:ssn|social security(?: number| no\.?)?)\D{0,6}\d{9}\b/gi;
const WS = '[\\t\\n\\v\\f\\r ]*'; // regex-lite's ASCII `\s*`
/** Rust's `(\s*(?:number|no\.?|#)?\s*(?:is)?\s*[=:]?\s*)` as the same language with each optional word taking the
 * spaces after it: adjacent `\s*` would backtrack polynomially here (regex-lite is linear), and peers send the text. */
const PIN = new RegExp(
  `\\b(pin|pin code|passcode|security code|cvv|cvc)(${WS}(?:(?:number|no\\.?|#)${WS})?(?:is${WS})?(?:[=:]${WS})?)\\d{3,8}\\b`,
  'gi',
);
const ACCOUNT = /\b\d{10,20}\b/g;

const isDigit = (s: string, i: number) => {
  const c = s.charCodeAt(i); // NaN outside the string
  return c >= 48 && c <= 57;
};

/** True when the digits of `digits` (other characters ignored) pass the Luhn check and there are at least 13. */
export function luhnValid(digits: string): boolean {
  let sum = 0;
  let n = 0;
  for (let i = digits.length - 1; i >= 0; i--) {
    if (!isDigit(digits, i)) continue;
    let d = digits.charCodeAt(i) - 48;
    if (n % 2 === 1) {
      d *= 2;
      if (d > 9) d -= 9;
    }
    sum += d;
    n += 1;
  }
  return n >= 13 && sum % 10 === 0;
}

const digitCount = (s: string) => s.replace(/[^0-9]/g, '').length;

/** The longest Luhn-valid span of whole groups with 13-19 digits among `groups` ([start, end) in `run`), then the
 * same left and right of it. */
function maskGroups(run: string, groups: [number, number][], masked: [number, number][]): void {
  let best: [number, number] | null = null; // group indices, inclusive
  for (let a = 0; a < groups.length; a++) {
    for (let z = a; z < groups.length; z++) {
      const span = run.slice(groups[a][0], groups[z][1]);
      const n = digitCount(span);
      if (n > 19) break;
      const longer = best === null || groups[z][1] - groups[a][0] > groups[best[1]][1] - groups[best[0]][0];
      if (n >= 13 && longer && luhnValid(span)) best = [a, z];
    }
  }
  if (best) {
    masked.push([groups[best[0]][0], groups[best[1]][1]]);
    maskGroups(run, groups.slice(0, best[0]), masked);
    maskGroups(run, groups.slice(best[1] + 1), masked);
  }
}

/** Masks the card-like spans of whole digit groups in a run like `12345 4111 1111 1111 1111 123`. */
function maskRun(run: string): string {
  const groups: [number, number][] = [];
  for (let i = 0; i < run.length;) {
    if (!isDigit(run, i)) {
      i += 1;
      continue;
    }
    const start = i;
    while (isDigit(run, i)) i += 1;
    groups.push([start, i]);
  }
  const masked: [number, number][] = [];
  maskGroups(run, groups, masked);
  if (!masked.length) return run;
  masked.sort((x, y) => x[0] - y[0]);
  let out = '';
  let at = 0;
  for (const [s, e] of masked) {
    out += run.slice(at, s) + MASK;
    at = e;
  }
  return out + run.slice(at);
}

/** Replaces every Luhn-valid card number in `text` with `****`; other text is unchanged. */
export function maskCardNumbers(text: string): string {
  return text.replace(CARD_RUN, (run) => maskRun(run));
}

/** Longest text masked at once, a chat message's limit (`MAX_CHAT_CHARS`, src/domain/rooms.rs): the card search
 * grows with the square of a run's digit groups, and a peer's data-channel message can be far longer. */
export const MAX_MASKED_CHARS = 4000;

/** `maskChat` for text straight from a peer, of any length: longer text is cut to `MAX_MASKED_CHARS`, back to
 * before the digits and separators the cut falls into (no half number is left where its pattern cannot see it),
 * and ends with an ellipsis. */
export function maskPeerText(text: string): string {
  if (text.length <= MAX_MASKED_CHARS) return maskChat(text);
  let end = MAX_MASKED_CHARS;
  while (end > 0 && /[0-9\t\n\v\f\r -]/.test(text.charAt(end - 1))) end -= 1;
  return `${maskChat(text.slice(0, end))}\u2026`;
}

/** What staff must never see: cards, SSNs, PINs / security codes after their keyword, account numbers. */
export function maskChat(text: string): string {
  return maskCardNumbers(text)
    .replace(SSN, MASK)
    .replace(PIN, (_m, keyword: string, between: string) => `${keyword}${between}${MASK}`)
    .replace(ACCOUNT, MASK);
}
