// Sanitizing customer e-mail HTML (Message.body_html) before it reaches the DOM. The HTML is untrusted; this is the
// only path through which it is rendered. On top of DOMPurify's defaults (no script, no on* handlers, no
// javascript: URLs) it drops SVG/MathML, forms, frames, embedded media, <style> and CSS positioning, makes every
// link open in a new tab without opener or referrer, and never loads a remote image (tracking pixels): those lose
// their src.
// The page's CSP (img-src 'self' data:) backs the last point up.
import createDOMPurify from 'dompurify';

const purify = createDOMPurify(window);

const FORBID_TAGS = ['style', 'link', 'meta', 'base', 'title', 'form', 'input', 'button', 'textarea', 'select',
  'option', 'iframe', 'frame', 'frameset', 'object', 'embed', 'audio', 'video', 'source', 'track', 'dialog',
  'template', 'portal', 'applet'];
const FORBID_ATTR = ['srcset', 'background', 'ping', 'formaction', 'action', 'poster', 'lowsrc', 'dynsrc'];
const SAFE_LINK = /^(https?:|mailto:|tel:)/i;

/** Counts of what one sanitize() call removed that the reader may want to know about. */
interface Tally {
  blockedImages: number;
}
let tally: Tally = { blockedImages: 0 };

purify.addHook('uponSanitizeAttribute', (_node, data) => {
  if (data.attrName !== 'style') return;
  data.attrValue = data.attrValue
    // Remote CSS resources (background:url(https://tracker/…)) would be blocked by the CSP anyway; drop them.
    .replace(/url\s*\([^)]*\)|expression\s*\([^)]*\)|@import[^;]*/gi, 'none')
    // No overlays: positioned boxes could cover the mail's own text and links (or pose as dashboard UI).
    .replace(/position\s*:\s*(fixed|absolute|sticky|relative)\b[^;]*/gi, 'position: static');
});

purify.addHook('afterSanitizeAttributes', (node) => {
  if (!(node instanceof Element)) return;
  const tag = node.tagName.toLowerCase();
  if (tag === 'a' || tag === 'area') {
    const href = node.getAttribute('href');
    if (href && SAFE_LINK.test(href.trim())) {
      node.setAttribute('target', '_blank');
      node.setAttribute('rel', 'noopener noreferrer');
    } else {
      node.removeAttribute('href');
    }
  }
  if (tag === 'img') {
    const src = node.getAttribute('src') ?? '';
    if (!/^data:image\/(png|gif|jpe?g|webp);/i.test(src)) {
      node.removeAttribute('src');
      node.setAttribute('alt', node.getAttribute('alt') || 'remote image');
      node.setAttribute('data-blocked', 'remote image not loaded');
      node.setAttribute('class', 'blocked-image');
      tally.blockedImages += 1;
    }
  }
});

/** Sanitized HTML, safe to insert, plus how many remote images were blocked. */
export function sanitizeEmailHtml(html: string): { html: string; blockedImages: number } {
  tally = { blockedImages: 0 };
  const clean = purify.sanitize(html, {
    USE_PROFILES: { html: true },
    FORBID_TAGS,
    FORBID_ATTR,
    ALLOW_DATA_ATTR: false,
    ALLOW_UNKNOWN_PROTOCOLS: false,
    WHOLE_DOCUMENT: false,
  });
  return { html: String(clean), blockedImages: tally.blockedImages };
}
