/**
 * Loopback HTTP fake of Salesforce for black-box tests: the OAuth 2.0 token endpoint (refresh token flow) and the
 * REST API (sObject Rows, sObject create, SOQL query, SOSL search). One server plays both the login host and the
 * instance host, so a client configured with login_url = instance_url = handle.url works unchanged.
 *
 * startSalesforce():
 *   POST  /services/oauth2/token                             OAuth 2.0 refresh token flow (form body or query string)
 *   GET   /services/data                                     Versions (no authentication, no Sforce-Limit-Info)
 *   GET   /services/data/vXX.X                               Resources by Version
 *   GET   /services/data/vXX.X/sobjects/{Contact|Case|Account}/{id}[?fields=A,B]   sObject Rows
 *   POST  /services/data/vXX.X/sobjects/{Contact|Case|Account}                      create (201)
 *   PATCH /services/data/vXX.X/sobjects/{Contact|Case|Account}/{id}                 update (204)
 *   GET   /services/data/vXX.X/query?q=<SOQL>                Query (a SOQL subset, below)
 *   GET   /services/data/vXX.X/search/?q=<SOSL>              Search (a SOSL subset, below; with or without the slash)
 *
 * Vendor pages followed:
 *   https://help.salesforce.com/s/articleView?id=sf.remoteaccess_oauth_refresh_token_flow.htm  (refresh token flow:
 *       grant_type, client_id, client_secret or HTTP Basic `client_id:client_secret`; response access_token,
 *       signature, scope, instance_url, id, token_type "Bearer", issued_at; no refresh_token unless rotation is on)
 *   https://developer.salesforce.com/docs/atlas.en-us.api_rest.meta/api_rest/intro_understanding_refresh_token_oauth.htm
 *       (same, REST guide; an expired access token gives "Session expired or invalid")
 *   https://help.salesforce.com/s/articleView?id=sf.remoteaccess_oauth_flow_errors.htm  (refresh-flow error
 *       `{"error":"invalid_grant","error_description":"expired access/refresh token"}`, 400, Cache-Control: no-store)
 *   https://www.nango.dev/blog/salesforce-oauth-refresh-token-invalid-grant  (status + texts of the token errors:
 *       400 invalid_grant / invalid_client "invalid client credentials" / unsupported_grant_type "grant type not
 *       supported"); https://pastebin.com/y5mKM31g (a live `{"error":"invalid_client_id","error_description":
 *       "client identifier invalid"}`)
 *   https://developer.salesforce.com/docs/atlas.en-us.api_rest.meta/api_rest/errorcodes.htm  (error bodies are
 *       arrays of `{"message","errorCode","fields"?}`; 401 session expired/invalid; 403 + REQUEST_LIMIT_EXCEEDED
 *       for the org's API request limit; 404; 405; 415; 500; 503)
 *   https://developer.salesforce.com/docs/atlas.en-us.api_rest.meta/api_rest/headers_api_usage.htm  (Sforce-Limit-Info:
 *       api-usage=n/limit on every REST response except the Versions resource)
 *   https://developer.salesforce.com/docs/atlas.en-us.api_rest.meta/api/dome_get_field_values.htm  (sObject Rows GET,
 *       `fields` parameter; unknown field → 400)
 *   https://developer.salesforce.com/docs/atlas.en-us.api_rest.meta/api_rest/dome_sobject_create.htm,
 *   .../dome_update_fields.htm  (create 201 `{"id","errors":[],"success":true}`; update 204 without a body)
 *   https://developer.salesforce.com/docs/atlas.en-us.api_rest.meta/api_rest/dome_query.htm  (query response
 *       `{"totalSize","done","records":[{"attributes":{"type","url"},…}]}`; parent relationship fields nested)
 *   https://developer.salesforce.com/docs/platform/salesforce-soql-sosl/guide/sforce-api-calls-soql-select-comparisonoperators.html
 *       (string comparisons case-insensitive except for unique case-sensitive fields; = != < <= > >= LIKE IN NOT IN)
 *   https://developer.salesforce.com/docs/atlas.en-us.soql_sosl.meta/soql_sosl/sforce_api_calls_soql_select_logicaloperators.htm
 *       (AND / OR / NOT; "Parentheses are required whenever you mix the operators"; a live "unexpected token: OR"
 *       for `A AND B OR C` quoted at https://life-improver.com/salesforce/salesforce-unexpected-token-or/)
 *   https://developer.salesforce.com/docs/atlas.en-us.soql_sosl.meta/api/sforce_api_calls_soql_select_quotedstringescapes.htm
 *       (\n \N \r \R \t \T \b \B \f \F \" \' \\ \uXXXX, \_ \% in LIKE; any other backslash is an error)
 *   https://developer.salesforce.com/docs/atlas.en-us.soql_sosl.meta/soql_sosl/sforce_api_calls_soql_select_orderby.htm
 *       (ASC default; "By default, null values are sorted first"; sorting is case-insensitive)
 *   https://developer.salesforce.com/docs/atlas.en-us.object_reference.meta/object_reference/sforce_api_objects_case.htm
 *       (Case fields; IsClosed "controlled by the Status field; it can't be set directly"; CaseNumber autonumber;
 *       AccountId defaults to the contact's account; only Case.Language is a "Restricted picklist")
 *   https://developer.salesforce.com/docs/atlas.en-us.object_reference.meta/object_reference/sforce_api_objects_casestatus.htm
 *       (Case statuses "such as New, On Hold, or In Process"; each status implies IsClosed)
 *   https://developer.salesforce.com/docs/atlas.en-us.api_rest.meta/api_rest/resources_search.htm  (Search resource:
 *       GET …/search/?q=<URL-encoded SOSL>) and …/dome_search.htm (answer `{"searchRecords":[{"attributes":{"type",
 *       "url"},"Id":…},…]}`)
 *   https://developer.salesforce.com/docs/atlas.en-us.soql_sosl.meta/soql_sosl/sforce_api_calls_sosl_syntax.htm,
 *       …/sforce_api_calls_sosl_find.htm, …/sforce_api_calls_sosl_in.htm, …/sforce_api_calls_sosl_examples.htm
 *       (clause order FIND {…} [IN g FIELDS] [RETURNING …] [LIMIT n] [OFFSET n]; ALL FIELDS by default; at most 2,000
 *       rows; case-insensitive; words delimited by spaces and punctuation; "phrases"; * and ? wildcards; AND, OR, AND
 *       NOT, parentheses, AND the default between words; `& | ! ( ) { } [ ] ^ " ~ * ? : \ ' + -` must be escaped;
 *       NAME FIELDS also covers Account Website and Case SuppliedName/SuppliedCompany/Subject)
 *   https://developer.salesforce.com/docs/atlas.en-us.api.meta/api/sample_search_call.htm  (phone lookup as
 *       `FIND {4155551212} IN Phone FIELDS RETURNING Contact(Id, Phone, …)`: bare digits against formatted numbers)
 *   https://help.salesforce.com/s/articleView?id=000385963  (phone fields keep what was entered; in a US/Canada
 *       locale the UI stores 1234567890 as "(123) 456-7890" and 12345678901 as "(234) 567-8901", dropping the 1)
 *   Live SOSL errors: restforce/restforce#688 (`MALFORMED_SEARCH` "\nFIND {John|jane_gray@uoa.edu} RETURNING
 *       Contact\n         ^\nERROR at Row:1:Column:10\nline 1:10 mismatched character '|' expecting '}'"),
 *       jesperfj/force-rest-api#92 (`MALFORMED_SEARCH` "…ERROR at Row:1:Column:19\nMalformed search token: TYPE" for
 *       `IN ALL TYPE`); `INVALID_SEARCH` "search term must be longer than one character: g" (recorded UI API answers,
 *       where the message carries an extra "INVALID_SEARCH: " prefix; salesforcedictionary.com/errors)
 *   Live response texts quoted in public code and threads: `[{"message":"INVALID_HEADER_TYPE","errorCode":
 *       "INVALID_AUTH_HEADER"}]`, `[{"message":"A query string has to be specified","errorCode":"MALFORMED_QUERY"}]`,
 *       `[{"message":"SOQL statements cannot be empty or null","errorCode":"MALFORMED_QUERY"}]`,
 *       `[{"message":"TotalRequests Limit exceeded.","errorCode":"REQUEST_LIMIT_EXCEEDED"}]`, `NOT_FOUND "Provided
 *       external ID field does not exist or is not accessible: <id>"` for an id that is not an id of that object,
 *       `"<Label>: bad value for restricted picklist field: <v>"` with `fields:[<ApiName>]`, and the SOQL error
 *       layout `"\n<query>\n   ^\nERROR at Row:1:Column:N\nNo such column 'X' on entity 'Y'. If you are …"`.
 *
 * Faithful to Salesforce:
 * - Token endpoint: POST only (`{"error":"invalid_request","error_description":"must use HTTP POST"}` otherwise);
 *   parameters from the form body and/or the query string; client credentials from the body or HTTP Basic.
 *   Checks, in order: grant_type (only refresh_token; else 400 unsupported_grant_type "grant type not supported"),
 *   client_id (400 invalid_client_id "client identifier invalid"), client_secret (400 invalid_client "invalid client
 *   credentials"), refresh_token (400 invalid_grant "expired access/refresh token", also after
 *   revokeRefreshToken()). Success 200 `{"access_token":"00D…!AQ…","signature","scope":"api refresh_token",
 *   "instance_url":<url>,"id":"<url>/id/00D…/005…","token_type":"Bearer","issued_at":"<epoch ms>"}` where
 *   signature = base64(HMAC-SHA256(clientSecret, id + issued_at)). Cache-Control: no-store on every token answer.
 * - REST: `Authorization: Bearer <token>` (or the older `OAuth <token>`). No/other scheme → 401
 *   `[{"message":"INVALID_HEADER_TYPE","errorCode":"INVALID_AUTH_HEADER"}]`; an unknown, expired (expireTokens())
 *   or revoked token → 401 `[{"message":"Session expired or invalid","errorCode":"INVALID_SESSION_ID"}]`.
 *   Any version other than `apiVersion`, and any unknown resource or sObject type → 404
 *   `[{"errorCode":"NOT_FOUND","message":"The requested resource does not exist"}]`. Responses are
 *   `application/json;charset=UTF-8` and carry `Sforce-Limit-Info: api-usage=n/15000` (n counts authenticated calls).
 * - Ids: 18 characters (15 + the case-safe checksum suffix), prefixes 001 Account, 003 Contact, 500 Case, 005 User,
 *   00D org. Paths and filters accept the 15- or the 18-character form and compare the first 15 characters
 *   case-sensitively. A path id that is not an id of that object (malformed, or another object's prefix) → 404
 *   NOT_FOUND "Provided external ID field does not exist or is not accessible: <id>"; a well-formed id that
 *   matches no record → 404 NOT_FOUND "The requested resource does not exist".
 * - Records: `{"attributes":{"type","url":"/services/data/vXX.X/sobjects/<Type>/<Id>"},"Id",…}` with every
 *   standard field (null when empty) and any `__c` custom fields seeded on that object (null on records that lack
 *   them). Datetimes `2024-05-01T12:00:00.000+0000` (Salesforce keeps whole seconds). `?fields=A,B` returns
 *   attributes, those fields, and Id; an unknown field → 400 INVALID_FIELD "No such column 'Foo' on entity
 *   'Contact'. If you are attempting to use a custom field, …". Field names are case-insensitive in requests and
 *   come back in their API casing.
 * - Contact.Name is FirstName + ' ' + LastName (read-only). Case.IsClosed follows Status (true for the
 *   `closedCaseStatuses`, default ['Closed']), ClosedDate is set on closing and cleared on reopening, AccountId
 *   defaults to the contact's AccountId when ContactId is set without it, ContactEmail / ContactPhone /
 *   ContactMobile / ContactFax mirror the contact. CaseNumber is an 8-digit autonumber (00001001, …). New cases
 *   default Status "New" and Priority "Medium" (Origin null unless given). PATCH with `"Status": null` is accepted
 *   and leaves Status unchanged (as reported on the developer forums).
 * - Create/update validation, each a 400 with a one-element array: invalid JSON → JSON_PARSER_ERROR; unknown field
 *   → INVALID_FIELD "No such column 'Foo' on sobject of type Case"; read-only field (Id, CaseNumber, IsClosed,
 *   CreatedDate, Name, …) → INVALID_FIELD_FOR_INSERT_UPDATE "Unable to create/update fields: X. Please check the
 *   security settings of this field and verify that it is read/write for your profile or permission set."
 *   `fields:["X"]`; Status/Priority outside the picklist → INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST "Status: bad
 *   value for restricted picklist field: X" `fields:["Status"]` (see Simplified); a malformed or wrong-object id in
 *   ContactId/AccountId → MALFORMED_ID "Contact ID: id value of incorrect type: X" `fields:["ContactId"]`;
 *   a string over its length (Subject 255, Origin/Status/Priority 40, LastName 80, …) → STRING_TOO_LONG
 *   "Subject: data value too large: … (max length=255)"; a bad email → INVALID_EMAIL_ADDRESS "Email: invalid email
 *   address: x"; Contact without LastName → REQUIRED_FIELD_MISSING "Required fields are missing: [LastName]".
 *   A body `attributes` key is ignored.
 * - SOQL subset: `SELECT f1, Rel.f2, … FROM Contact|Case|Account [WHERE cond] [ORDER BY f [ASC|DESC] [NULLS
 *   FIRST|LAST], …] [LIMIT n] [OFFSET n]`; keywords, object and field names case-insensitive. cond: field
 *   expressions `f = | != | <> | < | <= | > | >= value`, `f [NOT] IN ('a','b')`, `f LIKE 'a%_'`, joined by AND or
 *   by OR — mixing them at one level without parentheses is MALFORMED_QUERY "unexpected token: 'OR'", as
 *   Salesforce does; `NOT` only at the start of a (parenthesised) condition. Values: 'strings' (SOQL escapes,
 *   double quotes are an error), true/false, null, numbers, datetimes `2024-05-01T12:00:00Z` / `…+02:00`, dates
 *   `2024-05-01`. String =, != and LIKE are case-insensitive for every field here (Email included); phone fields
 *   compare exactly as stored — SOQL does NOT normalise phone numbers, so `Phone = '+14155550142'` does not match
 *   a stored '(415) 555-0142'. `!=` also matches nulls. Id/reference fields take 15- or 18-character ids (anything
 *   else → INVALID_QUERY_FILTER_OPERATOR "invalid ID field: x"); quoting a boolean/datetime or not quoting a string
 *   → INVALID_QUERY_FILTER_OPERATOR "value of filter criterion for field 'X' must be of type … ". Parent
 *   relationship fields (Contact.Account, Case.Account, Case.Contact; one level) in SELECT, WHERE and ORDER BY;
 *   in records they nest as `"Account":{"attributes":{…},"Name":…}` or `"Account":null`. Errors: parse errors →
 *   MALFORMED_QUERY, unknown fields → INVALID_FIELD "No such column …", unknown relationship → INVALID_FIELD
 *   "Didn't understand relationship 'X' in field path. …", unknown object → INVALID_TYPE "sObject type 'X' is not
 *   supported. …", all in Salesforce's "\n<query line>\n<caret>\nERROR at Row:r:Column:c\n<text>" layout. Missing
 *   `q` → "A query string has to be specified"; empty → "SOQL statements cannot be empty or null". Results:
 *   `{"totalSize":n,"done":true,"records":[…]}`, fields in SELECT order, nulls first by default in ORDER BY,
 *   case-insensitive string sort.
 * - SOSL subset: `FIND {expr} [IN ALL|NAME|EMAIL|PHONE|SIDEBAR FIELDS] [RETURNING Obj[(f1, Rel.f2, … [WHERE cond]
 *   [ORDER BY …] [LIMIT n] [OFFSET n])], …] [LIMIT n] [OFFSET n]`. expr: words, "phrases", * and ? wildcards,
 *   backslash escapes, ( ), AND, OR, AND NOT (adjacent terms are ANDed). Inside RETURNING the field list, WHERE,
 *   ORDER BY, LIMIT and OFFSET are the SOQL subset above (same resolution, relationship nesting and errors —
 *   INVALID_FIELD, INVALID_TYPE, …). Answer `{"searchRecords":[…]}`: for each RETURNING object in order, its
 *   matching records with attributes and only the requested fields (an object without a field list gives
 *   attributes + Id; no RETURNING searches Account, Contact and Case and gives attributes + Id), then the
 *   statement's LIMIT (default 2000) / OFFSET over the whole list. Search groups: PHONE = phone-type fields (Contact
 *   Phone, MobilePhone, HomePhone, OtherPhone, Fax; Account Phone, Fax), EMAIL = email fields (Contact Email, Case
 *   SuppliedEmail), NAME = Name (+ the extras above), ALL/SIDEBAR = every text, email, phone, textarea and url
 *   field plus `__c` fields (Case's read-only ContactPhone/ContactEmail/… mirrors are never searched). A word or
 *   phrase matches a field when its letter/digit runs occur consecutively among the field's, case-insensitively
 *   (so an email matches as a whole and "ada lovelace" matches a Name).
 *   Phone fields, additionally: Salesforce does not document how its index normalises phone numbers (nor country
 *   codes); it documents that FIND splits words at punctuation and shows bare digits finding formatted numbers.
 *   The fake compares digits only (the stored value's trailing "x123"/"ext 123" extension dropped) and matches when
 *   (1) the digits are equal — "(555) 010-0099" is found by {5550100099}; (2) the stored digits END WITH the
 *   searched ones and at least 7 digits were searched — a stored "+1 555 010 0099" is found by {5550100099}, and a
 *   local {0100099} finds it too; (3) the searched digits end with the stored ones, the stored number has at
 *   least 7 digits and the extra prefix is 1–3 digits (an E.164 country code) — {15550100099} finds
 *   "(555) 010-0099", as a US-locale org drops the leading 1 when it formats a number; (4) the search equals one
 *   of the value's digit groups (a token) — {0099} or {555}; (5) `{555*}` matches a prefix of the digits or of a
 *   group. Shorter partial digit strings that are no group ({99}, {100099}) find nothing.
 *   Errors: a statement not starting with FIND, a missing/unclosed brace, an unescaped reserved character, a bad
 *   search group or a bad RETURNING clause → 400 MALFORMED_SEARCH in the SOQL-like layout but with the 0-based
 *   column the live errors show ("…ERROR at Row:1:Column:10\nline 1:10 mismatched character '|' expecting '}'",
 *   "Malformed search token: TYPE"); fewer than 2 characters of search text (wildcards not counted) → 400
 *   `[{"message":"search term must be longer than one character: <text>","errorCode":"INVALID_SEARCH"}]`. Auth,
 *   404s, Sforce-Limit-Info and fail()/delay() as for the other /services/data routes.
 *
 * Simplified (deliberately):
 * - OAuth: only the refresh token flow, one connected app, one user, one refresh token; no rotation (no
 *   refresh_token in the answer), no /services/oauth2/revoke or /id endpoint, no token expiry other than
 *   expireTokens(); the client secret is always required. revokeRefreshToken() also invalidates the access tokens
 *   issued from it, as Salesforce's revoke does. Token errors are all 400 (Salesforce's observed status; RFC 6749
 *   would allow 401 for invalid_client).
 * - Case.Status / Case.Priority: Salesforce's object reference does not mark them "Restricted picklist" (an org
 *   accepts other values unless an admin restricts them); the fake restricts them by default
 *   (`restrictedPicklists: false` accepts any value; unknown statuses are then open). The picklists are
 *   `caseStatuses` (default New, Working, Escalated, On Hold, Closed — a new org has New/Working/Escalated/Closed,
 *   "On Hold" is a common addition) and High/Medium/Low; value matching is case-sensitive.
 * - Lookups to a well-formed id of the right object that matches no record → 400
 *   INSUFFICIENT_ACCESS_ON_CROSS_REFERENCE_ENTITY "insufficient access rights on cross-reference id" (from memory
 *   of live orgs, not verified). The SOQL caret/column of a parse error points at the offending token but the
 *   exact wording of Salesforce's parse errors ("unexpected token: 'X'") is approximated. Message texts of
 *   JSON_PARSER_ERROR, METHOD_NOT_ALLOWED, UNKNOWN_EXCEPTION and SERVER_UNAVAILABLE are Salesforce-shaped, not
 *   verified.
 * - Only Contact, Case, Account (no User/Owner relationship, no child subqueries, no aggregate functions,
 *   COUNT(), FIELDS(), date literals like TODAY, GROUP BY, queryMore — every result is one batch with done:true).
 *   No DELETE, upsert, composite, describe or sObject basic-information resources (404/405). JSON only.
 * - SOSL: no relevance ranking (without ORDER BY, records come in creation order), no stemming, stop words,
 *   synonyms, spelling correction or letter/digit token splitting ("blue1" is one token); SIDEBAR FIELDS searches
 *   like ALL FIELDS; no WITH …, toLabel(), convertCurrency(), SNIPPET/HIGHLIGHT, UPDATE TRACKING (they are
 *   MALFORMED_SEARCH here), no parameterizedSearch resource. Every reserved character the docs say to escape is
 *   rejected the way the live '|' error shows (only '|' is confirmed). The INVALID_SEARCH threshold applies to the
 *   whole search text. Parse-error wording other than the two live texts is approximated ("unexpected token: 'X'");
 *   a missing or blank `q` and FIND without braces answer MALFORMED_SEARCH "No search term found. The search term
 *   must be enclosed in braces." (from memory, not verified). The phone rules above are the fake's reading, not a
 *   documented algorithm.
 * - `fail(matcher, {status, times, retryAfter, message, body, headers, errorCode, after})` answers the next `times`
 *   requests whose `${method} ${pathWithQuery}` matches: REST paths get `[{"message","errorCode"}]` (defaults:
 *   401 INVALID_SESSION_ID "Session expired or invalid", 403 REQUEST_LIMIT_EXCEEDED "TotalRequests Limit
 *   exceeded." (its Sforce-Limit-Info then shows the limit used up), 404 NOT_FOUND, 500 UNKNOWN_EXCEPTION "An
 *   unexpected error occurred. Please include this ErrorId if you contact support: …", 503 SERVER_UNAVAILABLE,
 *   others by errorCode); the token path gets `{"error","error_description"}` (400 invalid_grant, 401
 *   invalid_client, 5xx unknown_error "retry your request"; `errorCode` sets `error`). `after: true` carries the
 *   request out first (a POST …/sobjects/Case creates the Case) and answers the fault instead of the 201 — a write
 *   whose answer was lost. `delay(matcher, {ms, times, after})` holds answers back (`ms: Infinity`: never answered
 *   until close()); by default the request is carried out on arrival and only the answer is held, `after: false`
 *   holds the request itself (with `ms: Infinity` it is never carried out). Both as in tests/fakes/crm.mjs.
 */
import { createHmac, randomBytes } from 'node:crypto';
import { serve, faultReply, faultBody, HttpError, json, clone } from './crm.mjs';

const SF_JSON = 'application/json;charset=UTF-8';
const API_LIMIT = 15000;
const sfJson = (status, value, headers = {}) => json(status, value, { 'content-type': SF_JSON, ...headers });
const noContent = () => ({ status: 204, headers: {}, body: '' });

// ---------------------------------------------------------------------------------------------------------------
// Ids.

const ID_SUFFIX_CHARS = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ012345';
/** The 3-character case-safe suffix of an 18-character Salesforce id. */
function idSuffix(id15) {
  let suffix = '';
  for (let chunk = 0; chunk < 3; chunk++) {
    let flags = 0;
    for (let i = 0; i < 5; i++) {
      const c = id15[chunk * 5 + i];
      if (c >= 'A' && c <= 'Z') flags |= 1 << i;
    }
    suffix += ID_SUFFIX_CHARS[flags];
  }
  return suffix;
}
const isIdShaped = (s) => typeof s === 'string' && /^[a-zA-Z0-9]{15}(?:[a-zA-Z0-9]{3})?$/.test(s);
const to18 = (id) => (id.length === 18 ? id.slice(0, 15) + idSuffix(id.slice(0, 15)) : id + idSuffix(id));
const sameId = (a, b) => typeof a === 'string' && typeof b === 'string' && a.slice(0, 15) === b.slice(0, 15);
function makeId(prefix, n) {
  const id15 = `${prefix}Dp${String(n).padStart(10, '0')}`;
  return id15 + idSuffix(id15);
}

/** Salesforce datetimes: whole seconds, `+0000`. */
function sfTime(value = new Date()) {
  const d = value instanceof Date ? value : new Date(value);
  if (Number.isNaN(d.getTime())) throw new TypeError(`startSalesforce: not a datetime: ${value}`);
  return new Date(Math.floor(d.getTime() / 1000) * 1000).toISOString().replace(/Z$/, '+0000');
}
const parseSfTime = (s) => Date.parse(String(s).replace(/([+-]\d\d)(\d\d)$/, '$1:$2'));

function releaseLabel(version) {
  const n = Math.round(Number(version)) - 57; // 57.0 = Spring '23
  const season = ((n % 3) + 3) % 3;
  const year = 23 + Math.floor(n / 3) + (season === 2 ? 1 : 0);
  return `${['Spring', 'Summer', 'Winter'][season]} '${year}`;
}

// ---------------------------------------------------------------------------------------------------------------
// Schema: the standard fields served, their types, labels, lengths and whether the API may write them.

const ID_PREFIX = { Account: '001', Contact: '003', Case: '500', User: '005', Organization: '00D' };
const f = (type, label, extra = {}) => ({ type, label, create: true, update: true, ...extra });
const ro = (type, label, extra = {}) => f(type, label, { create: false, update: false, ...extra });
const AUDIT = {
  CreatedDate: ro('datetime', 'Created Date'),
  CreatedById: ro('reference', 'Created By ID', { refersTo: 'User' }),
  LastModifiedDate: ro('datetime', 'Last Modified Date'),
  LastModifiedById: ro('reference', 'Last Modified By ID', { refersTo: 'User' }),
  SystemModstamp: ro('datetime', 'System Modstamp'),
};
const SCHEMA = {
  Account: {
    Id: ro('id', 'Account ID'),
    IsDeleted: ro('boolean', 'Deleted'),
    Name: f('string', 'Account Name', { length: 255, required: true }),
    Type: f('picklist', 'Account Type', { length: 255 }),
    ParentId: f('reference', 'Parent Account ID', { refersTo: 'Account' }),
    Phone: f('phone', 'Account Phone', { length: 40 }),
    Fax: f('phone', 'Account Fax', { length: 40 }),
    Website: f('url', 'Website', { length: 255 }),
    Industry: f('picklist', 'Industry', { length: 255 }),
    AccountNumber: f('string', 'Account Number', { length: 40 }),
    Description: f('textarea', 'Account Description', { length: 32000 }),
    OwnerId: f('reference', 'Owner ID', { refersTo: 'User' }),
    ...AUDIT,
  },
  Contact: {
    Id: ro('id', 'Contact ID'),
    IsDeleted: ro('boolean', 'Deleted'),
    AccountId: f('reference', 'Account ID', { refersTo: 'Account', relationship: 'Account' }),
    LastName: f('string', 'Last Name', { length: 80, required: true }),
    FirstName: f('string', 'First Name', { length: 40 }),
    Salutation: f('picklist', 'Salutation', { length: 40 }),
    Name: ro('string', 'Full Name'),
    Phone: f('phone', 'Business Phone', { length: 40 }),
    Fax: f('phone', 'Business Fax', { length: 40 }),
    MobilePhone: f('phone', 'Mobile Phone', { length: 40 }),
    HomePhone: f('phone', 'Home Phone', { length: 40 }),
    OtherPhone: f('phone', 'Other Phone', { length: 40 }),
    Email: f('email', 'Email', { length: 80 }),
    Title: f('string', 'Title', { length: 128 }),
    Department: f('string', 'Department', { length: 80 }),
    Description: f('textarea', 'Contact Description', { length: 32000 }),
    OwnerId: f('reference', 'Owner ID', { refersTo: 'User' }),
    HasOptedOutOfEmail: f('boolean', 'Email Opt Out'),
    DoNotCall: f('boolean', 'Do Not Call'),
    ...AUDIT,
  },
  Case: {
    Id: ro('id', 'Case ID'),
    IsDeleted: ro('boolean', 'Deleted'),
    CaseNumber: ro('string', 'Case Number'),
    ContactId: f('reference', 'Contact ID', { refersTo: 'Contact', relationship: 'Contact' }),
    AccountId: f('reference', 'Account ID', { refersTo: 'Account', relationship: 'Account' }),
    ParentId: f('reference', 'Parent Case ID', { refersTo: 'Case' }),
    SuppliedName: f('string', 'Name', { length: 80 }),
    SuppliedEmail: f('email', 'Email Address', { length: 80 }),
    SuppliedPhone: f('string', 'Phone', { length: 40 }),
    SuppliedCompany: f('string', 'Company', { length: 80 }),
    Type: f('picklist', 'Case Type', { length: 40 }),
    Status: f('picklist', 'Status', { length: 40, restricted: true }),
    Reason: f('picklist', 'Case Reason', { length: 40 }),
    Origin: f('picklist', 'Case Origin', { length: 40 }),
    Subject: f('string', 'Subject', { length: 255 }),
    Priority: f('picklist', 'Priority', { length: 40, restricted: true }),
    Description: f('textarea', 'Description', { length: 32000 }),
    IsClosed: ro('boolean', 'Closed'),
    ClosedDate: ro('datetime', 'Closed Date'),
    IsEscalated: f('boolean', 'Escalated'),
    OwnerId: f('reference', 'Owner ID', { refersTo: 'User' }),
    ContactPhone: ro('phone', 'Contact Phone', { search: false }), // mirrors the contact; not in the search index
    ContactMobile: ro('phone', 'Contact Mobile', { search: false }), // mirrors the contact; not in the search index
    ContactEmail: ro('email', 'Contact Email', { search: false }), // mirrors the contact; not in the search index
    ContactFax: ro('phone', 'Contact Fax', { search: false }), // mirrors the contact; not in the search index
    ...AUDIT,
  },
};
const CASE_PRIORITIES = ['High', 'Medium', 'Low'];
const TYPE_NAMES = Object.keys(SCHEMA);
const canonicalType = (name) => TYPE_NAMES.find((t) => t.toLowerCase() === String(name).toLowerCase());

// ---------------------------------------------------------------------------------------------------------------
// Errors.

const sfError = (status, errorCode, message, fields) => new HttpError(sfJson(status, [fields ? { message, errorCode, fields } : { message, errorCode }]));
const notFound = () => new HttpError(sfJson(404, [{ errorCode: 'NOT_FOUND', message: 'The requested resource does not exist' }]));
const notAnId = (id) => new HttpError(sfJson(404, [{ errorCode: 'NOT_FOUND', message: `Provided external ID field does not exist or is not accessible: ${id}` }]));
const methodNotAllowed = (method, allowed) => sfError(405, 'METHOD_NOT_ALLOWED', `HTTP Method '${method}' not allowed. Allowed are ${allowed}`);
const noSuchColumnMessage = (name, type) => `No such column '${name}' on entity '${type}'. If you are attempting to use a custom field, be sure to append the '__c' after the custom field name. Please reference your WSDL or the describe call for the appropriate names.`;

const errorId = () => `${1000000000 + Math.floor(Math.random() * 999999999)}-${10000 + Math.floor(Math.random() * 89999)} (-${1000000000 + Math.floor(Math.random() * 999999999)})`;
const REST_FAULT_CODES = { 400: 'INVALID_FIELD', 401: 'INVALID_SESSION_ID', 403: 'REQUEST_LIMIT_EXCEEDED', 404: 'NOT_FOUND', 405: 'METHOD_NOT_ALLOWED', 415: 'UNSUPPORTED_MEDIA_TYPE', 429: 'REQUEST_LIMIT_EXCEEDED', 500: 'UNKNOWN_EXCEPTION', 503: 'SERVER_UNAVAILABLE' };
const REST_FAULT_MESSAGES = {
  INVALID_SESSION_ID: () => 'Session expired or invalid',
  INVALID_AUTH_HEADER: () => 'INVALID_HEADER_TYPE',
  REQUEST_LIMIT_EXCEEDED: () => 'TotalRequests Limit exceeded.',
  NOT_FOUND: () => 'The requested resource does not exist',
  UNKNOWN_EXCEPTION: () => `An unexpected error occurred. Please include this ErrorId if you contact support: ${errorId()}`,
  SERVER_UNAVAILABLE: () => 'The server is temporarily unable to service your request. Please try again later.',
  INSUFFICIENT_ACCESS: () => 'insufficient access rights on object id',
  API_DISABLED_FOR_ORG: () => 'The REST API is not enabled for this Organization.',
  MALFORMED_QUERY: () => 'unexpected token: <EOF>',
  INVALID_FIELD: () => 'Invalid field',
  METHOD_NOT_ALLOWED: () => 'HTTP Method not allowed',
};
/** The body Salesforce's REST API would send for an injected status (exported for tests of clients). */
export function salesforceErrorBody(status, { errorCode, message } = {}) {
  const code = errorCode ?? REST_FAULT_CODES[status] ?? (status >= 500 ? 'UNKNOWN_EXCEPTION' : 'INVALID_OPERATION');
  return [{ message: message ?? REST_FAULT_MESSAGES[code]?.() ?? code, errorCode: code }];
}
const OAUTH_FAULTS = { 400: ['invalid_grant', 'expired access/refresh token'], 401: ['invalid_client', 'invalid client credentials'], 403: ['inactive_user', 'user is inactive'] };
function oauthErrorBody(status, { errorCode, message } = {}) {
  const [error, description] = OAUTH_FAULTS[status] ?? (status >= 500 ? ['unknown_error', 'retry your request'] : ['invalid_request', 'invalid request']);
  return { error: errorCode ?? error, error_description: message ?? description };
}

// ---------------------------------------------------------------------------------------------------------------
// SOQL subset: tokenizer, parser, evaluator.

const KEYWORDS = new Set(['SELECT', 'FROM', 'WHERE', 'AND', 'OR', 'NOT', 'IN', 'LIKE', 'ORDER', 'BY', 'ASC', 'DESC', 'NULLS', 'FIRST', 'LAST', 'LIMIT', 'OFFSET', 'TRUE', 'FALSE', 'NULL']);
const ESCAPES = { n: '\n', N: '\n', r: '\r', R: '\r', t: '\t', T: '\t', b: '\b', B: '\b', f: '\f', F: '\f', '"': '"', "'": "'", '\\': '\\' };

class SoqlError extends Error {
  constructor(errorCode, pos, text) {
    super(text);
    this.errorCode = errorCode;
    this.pos = pos;
  }
}

/** Salesforce's layout: the query line, a caret under the column, "ERROR at Row:r:Column:c", the text. */
function soqlErrorMessage(query, pos, text) {
  const before = query.slice(0, pos);
  const row = before.split('\n').length;
  const lineStart = before.lastIndexOf('\n') + 1;
  const col = pos - lineStart + 1;
  const lineEnd = query.indexOf('\n', pos) < 0 ? query.length : query.indexOf('\n', pos);
  return `\n${query.slice(lineStart, lineEnd)}\n${' '.repeat(col - 1)}^\nERROR at Row:${row}:Column:${col}\n${text}`;
}

function tokenize(q) {
  const tokens = [];
  let i = 0;
  const unexpected = (pos, what) => new SoqlError('MALFORMED_QUERY', pos, `unexpected token: '${what}'`);
  while (i < q.length) {
    const c = q[i];
    if (/\s/.test(c)) { i++; continue; }
    const start = i;
    if (c === "'") {
      let value = '';
      const like = []; // LIKE pattern pieces: strings, or {wild: '%'|'_'}
      let lit = '';
      i++;
      for (;;) {
        if (i >= q.length) throw new SoqlError('MALFORMED_QUERY', start, `unexpected token: '${q.slice(start)}'`);
        const ch = q[i];
        if (ch === "'") { i++; break; }
        if (ch === '\\') {
          const e = q[i + 1];
          if (e !== undefined && ESCAPES[e] !== undefined) { value += ESCAPES[e]; lit += ESCAPES[e]; i += 2; continue; }
          if (e === '%' || e === '_') { value += e; lit += e; i += 2; continue; }
          if (e === 'u' && /^[0-9a-fA-F]{4}$/.test(q.slice(i + 2, i + 6))) {
            const u = String.fromCharCode(parseInt(q.slice(i + 2, i + 6), 16));
            value += u; lit += u; i += 6; continue;
          }
          const end = q.indexOf("'", i + 1);
          throw new SoqlError('MALFORMED_QUERY', start, `Invalid string literal '${q.slice(start + 1, end < 0 ? q.length : end)}'. Illegal character sequence '\\${e ?? ''}' in string literal.`);
        }
        if (ch === '%' || ch === '_') { if (lit) like.push(lit); lit = ''; like.push({ wild: ch }); value += ch; i++; continue; }
        value += ch; lit += ch; i++;
      }
      if (lit) like.push(lit);
      tokens.push({ type: 'string', value, like, pos: start });
      continue;
    }
    if (c === '"') throw unexpected(start, q.slice(start).split(/\s/)[0]);
    let m;
    const rest = q.slice(i);
    if ((m = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?(?:Z|[+-]\d\d:\d\d)/.exec(rest))) {
      tokens.push({ type: 'datetime', value: Date.parse(m[0]), text: m[0], pos: start });
    } else if ((m = /^\d{4}-\d\d-\d\d(?![\w:])/.exec(rest))) {
      tokens.push({ type: 'date', value: m[0], text: m[0], pos: start });
    } else if ((m = /^-?\d+(?:\.\d+)?(?![\w.])/.exec(rest))) {
      tokens.push({ type: 'number', value: Number(m[0]), text: m[0], pos: start });
    } else if ((m = /^[A-Za-z][A-Za-z0-9_]*(?:\.[A-Za-z][A-Za-z0-9_]*)*/.exec(rest))) {
      const upper = m[0].toUpperCase();
      tokens.push({ type: KEYWORDS.has(upper) ? 'kw' : 'ident', value: KEYWORDS.has(upper) ? upper : m[0], text: m[0], pos: start });
    } else if ((m = /^(?:!=|<>|<=|>=|=|<|>)/.exec(rest))) {
      tokens.push({ type: 'op', value: m[0] === '<>' ? '!=' : m[0], text: m[0], pos: start });
    } else if (c === '(' || c === ')' || c === ',') {
      m = [c];
      tokens.push({ type: c, value: c, text: c, pos: start });
    } else {
      throw unexpected(start, c);
    }
    i += m[0].length;
  }
  tokens.push({ type: 'eof', value: '<EOF>', text: '<EOF>', pos: q.length });
  return tokens;
}

/**
 * A recursive-descent parser over tokenize() output for the pieces SOQL and SOSL share: field lists, WHERE
 * conditions, ORDER BY, LIMIT and OFFSET. Errors are SoqlErrors (MALFORMED_QUERY) at the offending token.
 */
function clauseParser(tokens) {
  let k = 0;
  const peek = () => tokens[k];
  const next = () => tokens[k++];
  const unexpected = (t = peek()) => new SoqlError('MALFORMED_QUERY', t.pos, t.type === 'eof' ? 'unexpected token: <EOF>' : `unexpected token: '${t.text ?? t.value}'`);
  const isKw = (kw, t = peek()) => t.type === 'kw' && t.value === kw;
  const expectKw = (kw) => { if (!isKw(kw)) throw unexpected(); return next(); };
  const field = () => {
    const t = peek();
    if (t.type !== 'ident') throw unexpected();
    next();
    return { path: t.value, pos: t.pos };
  };
  const fieldList = () => {
    const list = [field()];
    while (peek().type === ',') { next(); list.push(field()); }
    return list;
  };

  function literal() {
    const t = next();
    if (t.type === 'string' || t.type === 'number' || t.type === 'datetime' || t.type === 'date') return t;
    if (t.type === 'kw' && (t.value === 'TRUE' || t.value === 'FALSE')) return { type: 'boolean', value: t.value === 'TRUE', pos: t.pos, text: t.text };
    if (t.type === 'kw' && t.value === 'NULL') return { type: 'null', value: null, pos: t.pos, text: t.text };
    throw unexpected(t);
  }
  function simple() {
    if (peek().type === '(') {
      next();
      const inner = condition();
      if (peek().type !== ')') throw unexpected();
      next();
      return inner;
    }
    const fld = field();
    const t = peek();
    if (t.type === 'op') { next(); return { kind: 'cmp', field: fld, op: t.value, value: literal() }; }
    if (isKw('LIKE')) {
      next();
      const v = literal();
      return { kind: 'like', field: fld, value: v };
    }
    let negate = false;
    if (isKw('NOT')) { next(); negate = true; if (!isKw('IN')) throw unexpected(); }
    if (isKw('IN')) {
      next();
      if (peek().type !== '(') throw unexpected();
      next();
      const values = [literal()];
      while (peek().type === ',') { next(); values.push(literal()); }
      if (peek().type !== ')') throw unexpected();
      next();
      return { kind: 'in', field: fld, values, negate };
    }
    throw unexpected();
  }
  function condition() {
    if (isKw('NOT')) {
      next();
      return { kind: 'not', item: simple() };
    }
    const first = simple();
    if (!isKw('AND') && !isKw('OR')) return first;
    const op = peek().value;
    const items = [first];
    while (isKw('AND') || isKw('OR')) {
      if (peek().value !== op) throw unexpected(); // mixing AND and OR needs parentheses
      next();
      if (isKw('NOT')) throw unexpected();
      items.push(simple());
    }
    return { kind: op === 'AND' ? 'and' : 'or', items };
  }
  const integer = () => {
    const t = next();
    if (t.type !== 'number' || !Number.isInteger(t.value) || t.value < 0) throw unexpected(t);
    return t.value;
  };
  /** [WHERE cond] [ORDER BY …] [LIMIT n] [OFFSET n] → {where, orderBy, limit, offset}. */
  function clauses() {
    let where = null;
    if (isKw('WHERE')) { next(); where = condition(); }
    const orderBy = [];
    if (isKw('ORDER')) {
      next();
      expectKw('BY');
      do {
        if (orderBy.length) next();
        const fld = field();
        let desc = false;
        if (isKw('ASC')) next(); else if (isKw('DESC')) { next(); desc = true; }
        let nullsLast = false;
        if (isKw('NULLS')) {
          next();
          if (isKw('FIRST')) next(); else if (isKw('LAST')) { next(); nullsLast = true; } else throw unexpected();
        }
        orderBy.push({ field: fld, desc, nullsLast });
      } while (peek().type === ',');
    }
    let limit = null;
    let offset = 0;
    if (isKw('LIMIT')) { next(); limit = integer(); }
    if (isKw('OFFSET')) { next(); offset = integer(); }
    return { where, orderBy, limit, offset };
  }
  return { peek, next, unexpected, isKw, expectKw, fieldList, clauses, integer };
}

/** Parses the SOQL subset into {from, select: [{path, pos}], where, orderBy, limit, offset} (names unresolved). */
function parseSoql(q) {
  const p = clauseParser(tokenize(q));
  p.expectKw('SELECT');
  const select = p.fieldList();
  p.expectKw('FROM');
  const from = p.peek();
  if (from.type !== 'ident' || from.value.includes('.')) throw p.unexpected();
  p.next();
  const rest = p.clauses();
  if (p.peek().type !== 'eof') throw p.unexpected();
  return { from: { name: from.value, pos: from.pos }, select, ...rest };
}

const likeRegex = (pieces) => new RegExp(`^${pieces.map((p) => (typeof p === 'string' ? p.replace(/[.*+?^${}()|[\]\\]/g, '\\$&') : p.wild === '%' ? '[\\s\\S]*' : '[\\s\\S]')).join('')}$`, 'i');
const STRINGISH = new Set(['string', 'email', 'phone', 'picklist', 'textarea', 'url']);
const fold = (s) => String(s).toLowerCase();

// ---------------------------------------------------------------------------------------------------------------
// SOSL subset: FIND {…} [IN … FIELDS] [RETURNING Obj[(fields [WHERE] [ORDER BY] [LIMIT] [OFFSET])], …] [LIMIT n]
// [OFFSET n]. The part after the braces reuses the SOQL tokenizer and clauseParser.

const SOSL_GROUPS = new Set(['ALL', 'NAME', 'EMAIL', 'PHONE', 'SIDEBAR']);
/** Characters the FIND docs say must be escaped with \ (quotes, parentheses and wildcards have a meaning). */
const SOSL_RESERVED = new Set(['&', '|', '!', '{', '}', '[', ']', '^', '~', ':', "'", '+', '-']);
const SOSL_DEFAULT_LIMIT = 2000;

/** Salesforce's SOSL error layout: as SOQL's, but the column (and the caret) are 0-based, as live errors show. */
function soslErrorMessage(query, pos, text) {
  const before = query.slice(0, pos);
  const row = before.split('\n').length;
  const lineStart = before.lastIndexOf('\n') + 1;
  const col = pos - lineStart;
  const lineEnd = query.indexOf('\n', pos) < 0 ? query.length : query.indexOf('\n', pos);
  return `\n${query.slice(lineStart, lineEnd)}\n${' '.repeat(Math.max(0, col - 1))}^\nERROR at Row:${row}:Column:${col}\n${text}`;
}
const lineColumn = (query, pos) => {
  const before = query.slice(0, pos);
  return `${before.split('\n').length}:${pos - (before.lastIndexOf('\n') + 1)}`;
};

/**
 * Parses a SOSL statement into {expr, terms, group, returning: [{name, pos, select|null, where, orderBy, limit,
 * offset}], limit, offset}. Throws SoqlError with errorCode MALFORMED_SEARCH / MALFORMED_QUERY (mapped by the
 * caller) or INVALID_SEARCH.
 */
function parseSosl(q) {
  const malformed = (pos, text) => new SoqlError('MALFORMED_SEARCH', pos, text);
  const lead = /^\s*/.exec(q)[0].length;
  const first = /^\S*/.exec(q.slice(lead))[0];
  if (!/^find$/i.test(first.split('{')[0])) throw malformed(lead, `unexpected token: '${first || '<EOF>'}'`);
  let i = lead + 4;
  while (i < q.length && /\s/.test(q[i])) i++;
  if (q[i] !== '{') throw malformed(i, 'No search term found. The search term must be enclosed in braces.');
  const open = i;
  let close = open + 1;
  while (close < q.length && q[close] !== '}') close += q[close] === '\\' ? 2 : 1;
  if (close >= q.length) throw malformed(q.length, `line ${lineColumn(q, q.length)} mismatched character '<EOF>' expecting '}'`);

  // The search expression: words, "phrases", ( ), AND, OR, AND NOT; adjacent terms are ANDed.
  const lexemes = [];
  for (let k = open + 1; k < close;) {
    const c = q[k];
    if (/\s/.test(c)) { k++; continue; }
    if (c === '(' || c === ')') { lexemes.push({ type: c, pos: k, text: c }); k++; continue; }
    const start = k;
    let value = '';
    if (c === '"') {
      k++;
      while (k < close && q[k] !== '"') { if (q[k] === '\\') k++; value += q[k] ?? ''; k++; }
      if (k >= close) throw malformed(close, `line ${lineColumn(q, close)} mismatched character '}' expecting '"'`);
      k++;
      lexemes.push({ type: 'term', value, phrase: true, pos: start, text: q.slice(start, k) });
      continue;
    }
    while (k < close && !/[\s()"]/.test(q[k])) {
      if (q[k] === '\\') { value += q[k + 1] ?? ''; k += 2; continue; }
      if (SOSL_RESERVED.has(q[k])) throw malformed(k, `line ${lineColumn(q, k)} mismatched character '${q[k]}' expecting '}'`);
      value += q[k];
      k++;
    }
    const upper = value.toUpperCase();
    lexemes.push({ type: upper === 'AND' || upper === 'OR' || upper === 'NOT' ? upper : 'term', value, pos: start, text: q.slice(start, k) });
  }
  const terms = lexemes.filter((l) => l.type === 'term');
  if (terms.map((t) => t.value.replace(/[*?]/g, '')).join('').trim().length < 2) {
    throw new SoqlError('INVALID_SEARCH', open, `search term must be longer than one character: ${q.slice(open + 1, close).trim()}`);
  }
  let n = 0;
  const eof = { type: 'eof', pos: close, text: '}' };
  const peekL = () => lexemes[n] ?? eof;
  const bad = (l = peekL()) => malformed(l.pos, `unexpected token: '${l.text}'`);
  function unary() {
    const l = peekL();
    if (l.type === 'term') { n++; return { kind: 'term', value: l.value, phrase: !!l.phrase }; }
    if (l.type !== '(') throw bad(l);
    n++;
    const inner = orExpr();
    if (peekL().type !== ')') throw bad();
    n++;
    return inner;
  }
  function andExpr() {
    let node = unary();
    for (;;) {
      const l = peekL();
      if (l.type === 'AND') {
        n++;
        if (peekL().type === 'NOT') { n++; node = { kind: 'andNot', left: node, right: unary() }; continue; }
        node = { kind: 'and', items: [node, unary()] };
      } else if (l.type === 'term' || l.type === '(') {
        node = { kind: 'and', items: [node, unary()] };
      } else {
        return node;
      }
    }
  }
  function orExpr() {
    let node = andExpr();
    while (peekL().type === 'OR') { n++; node = { kind: 'or', items: [node, andExpr()] }; }
    return node;
  }
  const expr = orExpr();
  if (n < lexemes.length) throw bad();

  // After the braces: blank the FIND {…} part so token positions stay those of the statement.
  const p = clauseParser(tokenize(q.slice(0, close + 1).replace(/[^\n]/g, ' ') + q.slice(close + 1)));
  const isWord = (w, t = p.peek()) => t.type === 'ident' && t.value.toUpperCase() === w;
  let group = 'ALL';
  if (p.isKw('IN')) {
    p.next();
    const g = p.peek();
    if (g.type !== 'ident' || !SOSL_GROUPS.has(g.value.toUpperCase())) throw malformed(g.pos, `Malformed search token: ${g.text}`);
    p.next();
    if (!isWord('FIELDS')) throw malformed(p.peek().pos, `Malformed search token: ${p.peek().text}`);
    p.next();
    group = g.value.toUpperCase();
  }
  const returning = [];
  if (isWord('RETURNING')) {
    p.next();
    do {
      if (returning.length) p.next();
      const obj = p.peek();
      if (obj.type !== 'ident' || obj.value.includes('.')) throw p.unexpected();
      p.next();
      const spec = { name: obj.value, pos: obj.pos, select: null, where: null, orderBy: [], limit: null, offset: 0 };
      if (p.peek().type === '(') {
        p.next();
        spec.select = p.fieldList();
        Object.assign(spec, p.clauses());
        if (p.peek().type !== ')') throw p.unexpected();
        p.next();
      }
      returning.push(spec);
    } while (p.peek().type === ',');
  }
  let limit = null;
  let offset = 0;
  if (p.isKw('LIMIT')) { p.next(); limit = p.integer(); }
  if (p.isKw('OFFSET')) { p.next(); offset = p.integer(); }
  if (p.peek().type !== 'eof') throw p.unexpected();
  return { expr, terms: terms.map((t) => t.value), group, returning, limit, offset };
}

const textTokens = (s) => String(s).toLowerCase().match(/[\p{L}\p{N}]+/gu) ?? [];
const wildcardRegex = (word) => new RegExp(`^${word.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '[\\p{L}\\p{N}]*').replace(/\?/g, '[\\p{L}\\p{N}]')}$`, 'u');
/** A word or phrase matches when its tokens occur consecutively among the value's (case-insensitive; * and ?). */
function textMatch(term, value) {
  const want = (term.toLowerCase().match(/[\p{L}\p{N}*?]+/gu) ?? []).map(wildcardRegex);
  if (!want.length) return false;
  const have = textTokens(value);
  for (let i = 0; i + want.length <= have.length; i++) {
    if (want.every((re, k) => re.test(have[i + k]))) return true;
  }
  return false;
}
/**
 * Phone search (see the header): digits only on both sides; the stored number's extension is ignored. Matches when
 * the digits are equal, when the stored digits end with the searched ones (7+ digits: the search left out a
 * country or area code), when the searched digits end with the stored ones and differ by a 1–3 digit prefix (7+
 * stored digits: the search carried a country code the stored number lacks), or when the search equals one of
 * the stored value's digit groups (tokens). A trailing * matches a prefix of the number or of a group.
 */
function phoneMatch(term, value) {
  if (/\p{L}/u.test(term) || term.includes('?') || /\*./.test(term)) return false;
  const want = term.replace(/\D/g, '');
  if (want.length < 2) return false;
  const stored = String(value);
  const have = stored.replace(/\s*(?:x|ext\.?|extension)\s*\d+\s*$/i, '').replace(/\D/g, '');
  const groups = stored.match(/\d+/g) ?? [];
  if (term.endsWith('*')) return have.startsWith(want) || groups.some((g) => g.startsWith(want));
  if (have === want || groups.includes(want)) return true;
  if (want.length >= 7 && have.endsWith(want)) return true;
  return have.length >= 7 && want.endsWith(have) && want.length - have.length <= 3;
}
const termMatches = (term, fieldType, value) => value != null && value !== ''
  && ((fieldType === 'phone' && phoneMatch(term, value)) || textMatch(term, value));
function evalSearch(node, test) {
  switch (node.kind) {
    case 'term': return test(node.value);
    case 'and': return node.items.every((item) => evalSearch(item, test));
    case 'or': return node.items.some((item) => evalSearch(item, test));
    default: return evalSearch(node.left, test) && !evalSearch(node.right, test); // andNot
  }
}
/** IN NAME FIELDS: Name plus the extra fields the IN SearchGroup page lists for these objects. */
const SOSL_NAME_FIELDS = { Account: ['Name', 'Website'], Contact: ['Name'], Case: ['SuppliedName', 'SuppliedCompany', 'Subject'] };
const SOSL_TEXT_TYPES = new Set(['string', 'email', 'phone', 'textarea', 'url']);

// ---------------------------------------------------------------------------------------------------------------

/**
 * Starts the Salesforce fake on 127.0.0.1.
 * @param {{clientId: string, clientSecret: string, refreshToken: string, apiVersion?: string,
 *          contacts?: object[], cases?: object[], accounts?: object[], port?: number,
 *          caseStatuses?: string[], closedCaseStatuses?: string[], restrictedPicklists?: boolean}} opts
 * Seeds are partial records keyed by API field names (`__c` custom fields allowed); missing Ids, CaseNumbers and
 * timestamps are assigned. The handle's `contacts` / `cases` / `accounts` arrays hold the full records the API
 * serves (live).
 */
export async function startSalesforce({
  clientId, clientSecret, refreshToken, apiVersion = '57.0', contacts = [], cases = [], accounts = [], port = 0,
  caseStatuses = ['New', 'Working', 'Escalated', 'On Hold', 'Closed'], closedCaseStatuses = ['Closed'], restrictedPicklists = true,
} = {}) {
  if (!clientId || !clientSecret || !refreshToken) throw new TypeError('startSalesforce: clientId, clientSecret and refreshToken are required');
  if (!/^\d+\.0$/.test(String(apiVersion))) throw new TypeError('startSalesforce: apiVersion looks like "57.0"');
  const orgId = makeId(ID_PREFIX.Organization, 1);
  const userId = makeId(ID_PREFIX.User, 1);
  let baseUrl = '';
  let apiUsage = 0;
  let refreshRevoked = false;
  const tokens = [];
  const liveTokens = new Set();
  const counters = { Account: 0, Contact: 0, Case: 0 };
  let nextCaseNumber = 1001;
  const store = { Account: [], Contact: [], Case: [] };
  const custom = { Account: new Set(), Contact: new Set(), Case: new Set() };
  const recordUrl = (type, id) => `/services/data/v${apiVersion}/sobjects/${type}/${id}`;

  // --- schema helpers -----------------------------------------------------------------------------------------
  const fieldsOf = (type) => [...Object.keys(SCHEMA[type]), ...custom[type]];
  function fieldDef(type, name) {
    const key = Object.keys(SCHEMA[type]).find((k) => k.toLowerCase() === fold(name));
    if (key) return { name: key, ...SCHEMA[type][key] };
    const c = [...custom[type]].find((k) => k.toLowerCase() === fold(name));
    return c ? { name: c, type: 'string', label: c.replace(/__c$/, '').replace(/_/g, ' '), create: true, update: true } : null;
  }
  const relationshipOf = (type, name) => Object.entries(SCHEMA[type]).find(([, d]) => d.relationship && d.relationship.toLowerCase() === fold(name));

  // --- records ------------------------------------------------------------------------------------------------
  const byId = (type, id) => store[type].find((r) => sameId(r.Id, id));

  function newRecord(type, seed, { creating = false } = {}) {
    for (const key of Object.keys(seed)) {
      if (key === 'attributes' || SCHEMA[type][key]) continue;
      if (/^[A-Za-z][A-Za-z0-9_]*__c$/.test(key)) {
        if (!custom[type].has(key)) {
          custom[type].add(key);
          for (const r of store[type]) r[key] ??= null;
        }
        continue;
      }
      if (!creating) throw new TypeError(`startSalesforce: ${type} has no field ${key} (custom fields end in __c)`);
    }
    let id = seed.Id;
    if (id === undefined) {
      do { id = makeId(ID_PREFIX[type], ++counters[type]); } while (byId(type, id));
    } else if (!isIdShaped(id) || !id.startsWith(ID_PREFIX[type])) {
      throw new TypeError(`startSalesforce: ${type} Id ${id} is not a ${ID_PREFIX[type]}… id`);
    }
    const created = sfTime(seed.CreatedDate ?? new Date());
    const record = { attributes: { type, url: '' } };
    for (const name of fieldsOf(type)) record[name] = null;
    Object.assign(record, {
      Id: to18(id), IsDeleted: false, OwnerId: userId, CreatedById: userId, LastModifiedById: userId,
      CreatedDate: created, LastModifiedDate: created, SystemModstamp: created,
    });
    if (type === 'Contact') Object.assign(record, { HasOptedOutOfEmail: false, DoNotCall: false });
    if (type === 'Case') {
      Object.assign(record, { Status: 'New', Priority: 'Medium', IsEscalated: false });
      record.CaseNumber = seed.CaseNumber !== undefined ? String(seed.CaseNumber) : String(nextCaseNumber).padStart(8, '0');
      nextCaseNumber = Math.max(nextCaseNumber, Number(record.CaseNumber) + 1);
    }
    if (type === 'Contact' && seed.LastName === undefined && seed.Name) { // a seed given only a Name
      const words = String(seed.Name).trim().split(/\s+/);
      record.LastName = words.pop();
      if (words.length && seed.FirstName === undefined) record.FirstName = words.join(' ');
    }
    for (const [key, value] of Object.entries(seed)) {
      if (key === 'attributes' || key === 'Id' || key === 'CaseNumber' || (type === 'Contact' && key === 'Name')) continue;
      const def = SCHEMA[type][key];
      record[key] = value == null ? null
        : def?.type === 'datetime' ? sfTime(value)
          : def?.type === 'reference' && isIdShaped(value) ? to18(value)
            : clone(value);
    }
    if (seed.LastModifiedDate === undefined) record.LastModifiedDate = record.CreatedDate;
    if (seed.SystemModstamp === undefined) record.SystemModstamp = record.LastModifiedDate;
    record.attributes.url = recordUrl(type, record.Id);
    derive(type, record, {});
    store[type].push(record);
    return record;
  }

  /** Recomputes the read-only fields that follow others (Name, IsClosed, ClosedDate, Contact* on cases). */
  function derive(type, record, before) {
    if (type === 'Contact') record.Name = [record.FirstName, record.LastName].filter(Boolean).join(' ') || null;
    if (type === 'Case') {
      const closed = closedCaseStatuses.includes(record.Status);
      if (closed && !before.IsClosed) record.ClosedDate ??= record.LastModifiedDate;
      if (!closed) record.ClosedDate = null;
      record.IsClosed = closed;
      const contact = record.ContactId ? byId('Contact', record.ContactId) : null;
      record.ContactEmail = contact?.Email ?? null;
      record.ContactPhone = contact?.Phone ?? null;
      record.ContactMobile = contact?.MobilePhone ?? null;
      record.ContactFax = contact?.Fax ?? null;
    }
  }
  const refresh = (type, record) => { derive(type, record, record); return record; };

  for (const a of accounts) newRecord('Account', a);
  for (const c of contacts) newRecord('Contact', c);
  for (const c of cases) newRecord('Case', c);

  // --- auth ---------------------------------------------------------------------------------------------------
  function issueToken() {
    const token = `${orgId.slice(0, 15)}!AQ${randomBytes(48).toString('base64url')}`;
    tokens.push(token);
    liveTokens.add(token);
    return token;
  }

  function tokenEndpoint(req, url) {
    const oauthError = (error, description, status = 400) => new HttpError(sfJson(status, { error, error_description: description }, { 'cache-control': 'no-store', pragma: 'no-cache' }));
    if (req.method !== 'POST') throw oauthError('invalid_request', 'must use HTTP POST');
    const params = new URLSearchParams(url.search);
    if (/^application\/x-www-form-urlencoded\b/i.test(req.headers['content-type'] ?? '') || !req.headers['content-type']) {
      for (const [k, v] of new URLSearchParams(req.body)) params.set(k, v);
    }
    let id = params.get('client_id');
    let secret = params.get('client_secret');
    const basic = /^Basic\s+(\S+)$/i.exec(req.headers.authorization ?? '');
    if (basic) {
      const decoded = Buffer.from(basic[1], 'base64').toString('utf8');
      const i = decoded.indexOf(':');
      if (i >= 0) { id = decodeURIComponent(decoded.slice(0, i)); secret = decodeURIComponent(decoded.slice(i + 1)); }
    }
    if (params.get('grant_type') !== 'refresh_token') throw oauthError('unsupported_grant_type', 'grant type not supported');
    if (id !== clientId) throw oauthError('invalid_client_id', 'client identifier invalid');
    if (secret !== clientSecret) throw oauthError('invalid_client', 'invalid client credentials');
    if (refreshRevoked || params.get('refresh_token') !== refreshToken) throw oauthError('invalid_grant', 'expired access/refresh token');
    const issuedAt = String(Date.now());
    const identity = `${baseUrl}/id/${orgId}/${userId}`;
    return sfJson(200, {
      access_token: issueToken(),
      signature: createHmac('sha256', clientSecret).update(identity + issuedAt).digest('base64'),
      scope: 'api refresh_token',
      instance_url: baseUrl,
      id: identity,
      token_type: 'Bearer',
      issued_at: issuedAt,
    }, { 'cache-control': 'no-store', pragma: 'no-cache' });
  }

  function authenticate(req) {
    const m = /^(?:Bearer|OAuth)\s+(\S+)\s*$/i.exec(req.headers.authorization ?? '');
    if (!m) throw sfError(401, 'INVALID_AUTH_HEADER', 'INVALID_HEADER_TYPE');
    if (!liveTokens.has(m[1])) throw sfError(401, 'INVALID_SESSION_ID', 'Session expired or invalid');
  }

  // --- writes -------------------------------------------------------------------------------------------------
  function bodyOf(req) {
    const type = req.headers['content-type'];
    if (type && !/^application\/json\b/i.test(type)) {
      throw sfError(415, 'UNSUPPORTED_MEDIA_TYPE', `Content type '${type.split(';')[0]}' not supported`);
    }
    let body;
    try { body = JSON.parse(req.body); } catch (error) {
      throw sfError(400, 'JSON_PARSER_ERROR', `Unexpected character: ${error.message} at [line:1, column:1]`);
    }
    if (body === null || typeof body !== 'object' || Array.isArray(body)) {
      throw sfError(400, 'JSON_PARSER_ERROR', 'Cannot deserialize instance of SObject out of non-object token at [line:1, column:1]');
    }
    return body;
  }

  /** Validates a create/update body against the schema; returns the changes keyed by API name. */
  function validate(type, body, creating) {
    const changes = {};
    const readOnly = [];
    for (const [key, value] of Object.entries(body)) {
      if (key === 'attributes') continue;
      const def = fieldDef(type, key);
      if (!def) throw sfError(400, 'INVALID_FIELD', `No such column '${key}' on sobject of type ${type}`);
      if (!(creating ? def.create : def.update)) { readOnly.push(def.name); continue; }
      changes[def.name] = value;
    }
    if (readOnly.length) {
      throw sfError(400, 'INVALID_FIELD_FOR_INSERT_UPDATE', `Unable to create/update fields: ${readOnly.join(', ')}. Please check the security settings of this field and verify that it is read/write for your profile or permission set.`, readOnly);
    }
    for (const [name, raw] of Object.entries(changes)) {
      const def = fieldDef(type, name);
      if (raw === null || raw === '') { changes[name] = def.type === 'boolean' ? false : null; continue; }
      if (def.type === 'boolean') {
        if (typeof raw !== 'boolean') throw sfError(400, 'JSON_PARSER_ERROR', `Cannot deserialize instance of boolean from VALUE_STRING value ${raw} or request may be missing a required field at [line:1, column:1]`);
        continue;
      }
      if (typeof raw === 'object') throw sfError(400, 'JSON_PARSER_ERROR', `Cannot deserialize instance of ${def.type} from START_${Array.isArray(raw) ? 'ARRAY' : 'OBJECT'} value or request may be missing a required field at [line:1, column:1]`);
      const value = String(raw);
      changes[name] = value;
      if (def.type === 'reference') {
        const target = def.refersTo;
        if (!isIdShaped(value) || !value.startsWith(ID_PREFIX[target])) throw sfError(400, 'MALFORMED_ID', `${def.label}: id value of incorrect type: ${value}`, [name]);
        if (store[target] && !byId(target, value)) throw sfError(400, 'INSUFFICIENT_ACCESS_ON_CROSS_REFERENCE_ENTITY', 'insufficient access rights on cross-reference id', []);
        if (target === 'User' && !sameId(value, userId)) throw sfError(400, 'INSUFFICIENT_ACCESS_ON_CROSS_REFERENCE_ENTITY', 'insufficient access rights on cross-reference id', []);
        changes[name] = to18(value);
        continue;
      }
      if (def.length && value.length > def.length) throw sfError(400, 'STRING_TOO_LONG', `${def.label}: data value too large: ${value} (max length=${def.length})`, [name]);
      if (def.type === 'email' && !/^[^@\s]+@[^@\s]+\.[^@\s]+$/.test(value)) throw sfError(400, 'INVALID_EMAIL_ADDRESS', `${def.label}: invalid email address: ${value}`, [name]);
      if (type === 'Case' && restrictedPicklists && def.restricted) {
        const allowed = name === 'Status' ? caseStatuses : CASE_PRIORITIES;
        if (!allowed.includes(value)) throw sfError(400, 'INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST', `${def.label}: bad value for restricted picklist field: ${value}`, [name]);
      }
    }
    if (type === 'Case' && changes.Status === null) delete changes.Status; // accepted, ignored
    const required = Object.entries(SCHEMA[type]).filter(([, d]) => d.required).map(([n]) => n);
    const missing = required.filter((n) => (creating ? changes[n] == null : n in changes && changes[n] == null));
    if (missing.length) throw sfError(400, 'REQUIRED_FIELD_MISSING', `Required fields are missing: [${missing.join(', ')}]`, missing);
    return changes;
  }

  function applyChanges(type, record, changes) {
    const before = { ...record };
    Object.assign(record, changes);
    if (type === 'Case' && changes.ContactId && changes.AccountId === undefined && !record.AccountId) {
      record.AccountId = byId('Contact', changes.ContactId)?.AccountId ?? null;
    }
    const now = sfTime();
    record.LastModifiedDate = now;
    record.SystemModstamp = now;
    derive(type, record, before);
  }

  // --- reads --------------------------------------------------------------------------------------------------
  function resolveRecordId(type, raw) {
    let id = raw;
    try { id = decodeURIComponent(raw); } catch { /* left as sent */ }
    if (!isIdShaped(id) || !id.startsWith(ID_PREFIX[type])) throw notAnId(id);
    const record = byId(type, id);
    if (!record) throw notFound();
    return refresh(type, record);
  }

  function getRecord(type, record, url) {
    const fieldsParam = url.searchParams.get('fields');
    if (fieldsParam === null) return sfJson(200, record);
    const out = { attributes: clone(record.attributes) };
    for (const name of fieldsParam.split(',').map((s) => s.trim()).filter(Boolean)) {
      const def = fieldDef(type, name);
      if (!def) throw sfError(400, 'INVALID_FIELD', noSuchColumnMessage(name, type));
      out[def.name] = clone(record[def.name]);
    }
    out.Id = record.Id;
    return sfJson(200, out);
  }

  // --- SOQL ---------------------------------------------------------------------------------------------------
  const unsupportedType = (name) => `sObject type '${name}' is not supported. If you are attempting to use a custom object, be sure to append the '__c' after the entity name. Please reference your WSDL or the describe call for the appropriate names.`;

  function runQuery(q) {
    let parsed;
    try {
      parsed = parseSoql(q);
    } catch (error) {
      if (error instanceof SoqlError) throw sfError(400, error.errorCode, soqlErrorMessage(q, error.pos, error.message));
      throw error;
    }
    const fail = (code, pos, text) => sfError(400, code, soqlErrorMessage(q, pos, text));
    const type = canonicalType(parsed.from.name);
    if (!type) throw fail('INVALID_TYPE', parsed.from.pos, unsupportedType(parsed.from.name));
    const records = selectRecords(type, parsed, fail, store[type]);
    return sfJson(200, { totalSize: records.length, done: true, records });
  }

  /**
   * The SELECT engine shared by SOQL and SOSL RETURNING: resolves {select, where, orderBy, limit, offset} against
   * `type`, filters `candidates`, sorts, pages and shapes the records (attributes + the selected fields, parent
   * relationship fields nested). `fail(code, pos, text)` builds the error for a bad field or filter.
   */
  function selectRecords(type, parsed, fail, candidates) {
    /** Resolves `Field` or `Rel.Field` to {rel?, relType?, def, get(record)}. */
    function resolve({ path, pos }) {
      const parts = path.split('.');
      if (parts.length > 2) throw fail('INVALID_FIELD', pos, `Didn't understand relationship '${parts[0]}' in field path. If you are attempting to use a custom relationship, be sure to append the '__r' after the custom relationship name. Please reference your WSDL or the describe call for the appropriate names.`);
      if (parts.length === 2) {
        const rel = relationshipOf(type, parts[0]);
        if (!rel) throw fail('INVALID_FIELD', pos, `Didn't understand relationship '${parts[0]}' in field path. If you are attempting to use a custom relationship, be sure to append the '__r' after the custom relationship name. Please reference your WSDL or the describe call for the appropriate names.`);
        const [fk, relDef] = rel;
        const relType = relDef.refersTo;
        const def = fieldDef(relType, parts[1]);
        if (!def) throw fail('INVALID_FIELD', pos + parts[0].length + 1, noSuchColumnMessage(parts[1], relType));
        const parent = (r) => (r[fk] ? byId(relType, r[fk]) : null);
        return { rel: relDef.relationship, relType, def, parent, get: (r) => { const p = parent(r); return p ? refresh(relType, p)[def.name] : null; } };
      }
      const def = fieldDef(type, path);
      if (!def) throw fail('INVALID_FIELD', pos, noSuchColumnMessage(path, type));
      return { def, get: (r) => r[def.name] };
    }

    const typeError = (fld, def, want, quoted) => fail('INVALID_QUERY_FILTER_OPERATOR', fld.pos, `value of filter criterion for field '${def.name}' must be of type ${want} and ${quoted ? 'should be enclosed in quotes' : 'should not be enclosed in quotes'}`);
    /** Turns a literal into a comparable value for the field, checking its type. */
    function operand(fld, def, lit) {
      if (lit.type === 'null') return null;
      if (def.type === 'boolean') { if (lit.type !== 'boolean') throw typeError(fld, def, 'boolean', false); return lit.value; }
      if (def.type === 'datetime') {
        if (lit.type === 'datetime') return lit.value;
        if (lit.type === 'date') return Date.parse(`${lit.value}T00:00:00Z`);
        throw typeError(fld, def, 'dateTime', false);
      }
      if (lit.type !== 'string') throw typeError(fld, def, 'string', true);
      if (def.type === 'id' || def.type === 'reference') {
        if (!isIdShaped(lit.value)) throw fail('INVALID_QUERY_FILTER_OPERATOR', lit.pos, `invalid ID field: ${lit.value}`);
        return lit.value;
      }
      return lit.value;
    }
    function compare(def, a, b) { // a: record value (non-null), b: operand (non-null) → -1/0/1
      if (def.type === 'id' || def.type === 'reference') return a.slice(0, 15) === b.slice(0, 15) ? 0 : a < b ? -1 : 1;
      if (def.type === 'datetime') { const x = parseSfTime(a); return x === b ? 0 : x < b ? -1 : 1; }
      if (def.type === 'boolean') return Number(a) - Number(b);
      const x = fold(a); const y = fold(b);
      return x === y ? 0 : x < y ? -1 : 1;
    }
    function compile(node) {
      switch (node.kind) {
        case 'and': { const items = node.items.map(compile); return (r) => items.every((t) => t(r)); }
        case 'or': { const items = node.items.map(compile); return (r) => items.some((t) => t(r)); }
        case 'not': { const item = compile(node.item); return (r) => !item(r); }
        case 'like': {
          const { def, get } = resolve(node.field);
          if (!STRINGISH.has(def.type) || node.value.type !== 'string') throw fail('INVALID_QUERY_FILTER_OPERATOR', node.field.pos, `invalid operator on ${def.type} field: LIKE`);
          const re = likeRegex(node.value.like);
          return (r) => { const v = get(r); return v != null && re.test(String(v)); };
        }
        case 'in': {
          const { def, get } = resolve(node.field);
          const values = node.values.map((lit) => operand(node.field, def, lit));
          return (r) => {
            const v = get(r);
            const hit = values.some((x) => (x === null ? v == null : v != null && compare(def, v, x) === 0));
            return node.negate ? !hit : hit;
          };
        }
        case 'cmp': {
          const { def, get } = resolve(node.field);
          const x = operand(node.field, def, node.value);
          if (x === null && node.op !== '=' && node.op !== '!=') throw fail('MALFORMED_QUERY', node.value.pos, `unexpected token: 'null'`);
          return (r) => {
            const v = get(r);
            if (x === null) return node.op === '=' ? v == null : v != null;
            if (v == null) return node.op === '!=';
            const c = compare(def, v, x);
            switch (node.op) {
              case '=': return c === 0;
              case '!=': return c !== 0;
              case '<': return c < 0;
              case '<=': return c <= 0;
              case '>': return c > 0;
              default: return c >= 0;
            }
          };
        }
        default: throw new Error(`unknown node ${node.kind}`);
      }
    }

    const columns = parsed.select.map(resolve);
    const test = parsed.where ? compile(parsed.where) : () => true;
    const order = parsed.orderBy.map((o) => ({ ...o, col: resolve(o.field) }));
    let rows = candidates.map((r) => refresh(type, r)).filter(test);
    if (order.length) {
      rows = rows.map((r, i) => ({ r, i })).sort((a, b) => {
        for (const o of order) {
          const x = o.col.get(a.r);
          const y = o.col.get(b.r);
          if (x == null && y == null) continue;
          if (x == null || y == null) return (x == null) === !o.nullsLast ? -1 : 1;
          const c = compare(o.col.def, x, o.col.def.type === 'datetime' ? parseSfTime(y) : y);
          if (c !== 0) return o.desc ? -c : c;
        }
        return a.i - b.i;
      }).map((e) => e.r);
    }
    rows = rows.slice(parsed.offset, parsed.limit === null ? undefined : parsed.offset + parsed.limit);
    return rows.map((r) => {
      const out = { attributes: clone(r.attributes) };
      for (const col of columns) {
        if (!col.rel) { out[col.def.name] = clone(r[col.def.name]); continue; }
        const parent = col.parent(r);
        if (!parent) { out[col.rel] = null; continue; }
        out[col.rel] ??= { attributes: clone(parent.attributes) };
        out[col.rel][col.def.name] = clone(refresh(col.relType, parent)[col.def.name]);
      }
      return out;
    });
  }

  // --- SOSL ---------------------------------------------------------------------------------------------------
  /** The fields a search group covers on `type` (custom __c fields are text, so ALL FIELDS covers them). */
  function searchFields(type, group) {
    return fieldsOf(type).map((name) => fieldDef(type, name)).filter((def) => {
      if (def.search === false) return false;
      if (group === 'PHONE') return def.type === 'phone';
      if (group === 'EMAIL') return def.type === 'email';
      if (group === 'NAME') return SOSL_NAME_FIELDS[type].includes(def.name);
      return SOSL_TEXT_TYPES.has(def.type); // ALL, SIDEBAR
    });
  }

  function runSearch(q) {
    let parsed;
    try {
      parsed = parseSosl(q);
    } catch (error) {
      if (!(error instanceof SoqlError)) throw error;
      if (error.errorCode === 'INVALID_SEARCH') throw sfError(400, 'INVALID_SEARCH', error.message);
      throw sfError(400, 'MALFORMED_SEARCH', soslErrorMessage(q, error.pos, error.message));
    }
    const fail = (code, pos, text) => sfError(400, code, soslErrorMessage(q, pos, text));
    const specs = parsed.returning.length ? parsed.returning
      : TYPE_NAMES.map((name) => ({ name, pos: 0, select: null, where: null, orderBy: [], limit: null, offset: 0 }));
    const typed = specs.map((spec) => {
      const type = canonicalType(spec.name);
      if (!type) throw fail('INVALID_TYPE', spec.pos, unsupportedType(spec.name));
      return { spec, type };
    });
    const searchRecords = [];
    for (const { spec, type } of typed) {
      const fields = searchFields(type, parsed.group);
      const hits = store[type].filter((r) => {
        const record = refresh(type, r);
        return evalSearch(parsed.expr, (term) => fields.some((def) => termMatches(term, def.type, record[def.name])));
      });
      const select = spec.select ?? [{ path: 'Id', pos: spec.pos }];
      searchRecords.push(...selectRecords(type, { ...spec, select }, fail, hits));
    }
    return sfJson(200, { searchRecords: searchRecords.slice(parsed.offset, parsed.offset + (parsed.limit ?? SOSL_DEFAULT_LIMIT)) });
  }

  // --- routing ------------------------------------------------------------------------------------------------
  function route(req) {
    const url = new URL(req.path, 'http://x');
    const p = url.pathname.replace(/\/+$/, '') || '/';
    if (p === '/services/oauth2/token') return tokenEndpoint(req, url);
    if (p === '/services/data') {
      if (req.method !== 'GET' && req.method !== 'HEAD') throw methodNotAllowed(req.method, 'HEAD,GET');
      return sfJson(200, [{ label: releaseLabel(apiVersion), url: `/services/data/v${apiVersion}`, version: apiVersion }]);
    }
    let m = /^\/services\/data\/v(\d+\.\d+)(\/.*)?$/.exec(p);
    if (!m) throw notFound();
    authenticate(req);
    counted.add(req);
    if (m[1] !== apiVersion) throw notFound();
    const rest = m[2] ?? '';
    const base = `/services/data/v${apiVersion}`;
    if (rest === '') {
      if (req.method !== 'GET') throw methodNotAllowed(req.method, 'HEAD,GET');
      return sfJson(200, { sobjects: `${base}/sobjects`, query: `${base}/query`, queryAll: `${base}/queryAll`, search: `${base}/search`, limits: `${base}/limits` });
    }
    if (rest === '/query') {
      if (req.method !== 'GET') throw methodNotAllowed(req.method, 'HEAD,GET');
      const q = url.searchParams.get('q');
      if (q === null) throw sfError(400, 'MALFORMED_QUERY', 'A query string has to be specified');
      if (!q.trim()) throw sfError(400, 'MALFORMED_QUERY', 'SOQL statements cannot be empty or null');
      return runQuery(q);
    }
    if (rest === '/search') {
      if (req.method !== 'GET') throw methodNotAllowed(req.method, 'HEAD,GET');
      const q = url.searchParams.get('q');
      if (q === null || !q.trim()) throw sfError(400, 'MALFORMED_SEARCH', 'No search term found. The search term must be enclosed in braces.');
      return runSearch(q);
    }
    if ((m = /^\/sobjects\/([^/]+)$/.exec(rest))) {
      const type = TYPE_NAMES.find((t) => t === m[1]) ?? canonicalType(m[1]);
      if (!type) throw notFound();
      if (req.method !== 'POST') {
        if (req.method === 'GET') throw notFound(); // sObject Basic Information: not implemented
        throw methodNotAllowed(req.method, 'HEAD,GET,POST');
      }
      const changes = validate(type, bodyOf(req), true);
      const record = newRecord(type, {}, { creating: true });
      applyChanges(type, record, changes);
      record.CreatedDate = record.LastModifiedDate;
      return sfJson(201, { id: record.Id, errors: [], success: true });
    }
    if ((m = /^\/sobjects\/([^/]+)\/([^/]+)$/.exec(rest))) {
      const type = canonicalType(m[1]);
      if (!type) throw notFound();
      if (req.method === 'GET' || req.method === 'HEAD') return getRecord(type, resolveRecordId(type, m[2]), url);
      if (req.method === 'PATCH') {
        const record = resolveRecordId(type, m[2]);
        applyChanges(type, record, validate(type, bodyOf(req), false));
        return noContent();
      }
      throw methodNotAllowed(req.method, 'HEAD,GET,PATCH,DELETE');
    }
    throw notFound();
  }

  const counted = new WeakSet(); // requests that count against the org's API limit
  const limitExceeded = new WeakSet();
  const isRest = (req) => /^\/services\/data\/v/.test(new URL(req.path, 'http://x').pathname);
  function faultResponse(fault, req) {
    if (/^\/services\/oauth2\//.test(new URL(req.path, 'http://x').pathname)) {
      return faultReply(fault, faultBody(fault, oauthErrorBody(fault.status, fault)), { 'content-type': SF_JSON, 'cache-control': 'no-store' });
    }
    const body = faultBody(fault, salesforceErrorBody(fault.status, fault));
    if (isRest(req) && fault.status !== 401) counted.add(req);
    if ((fault.errorCode ?? REST_FAULT_CODES[fault.status]) === 'REQUEST_LIMIT_EXCEEDED') limitExceeded.add(req);
    return faultReply(fault, body, { 'content-type': SF_JSON });
  }
  function decorate(response, req) {
    if (!isRest(req)) return;
    if (counted.has(req)) apiUsage += 1;
    response.headers['sforce-limit-info'] ??= `api-usage=${limitExceeded.has(req) ? Math.max(apiUsage, API_LIMIT + 1) : apiUsage}/${API_LIMIT}`;
  }

  const server = await serve({ name: 'salesforce', port, dispatch: route, faultResponse, decorate });
  baseUrl = server.url;
  return {
    url: server.url,
    /** Contacts, cases and accounts: the full records the API serves (live), in creation order. */
    contacts: store.Contact,
    cases: store.Case,
    accounts: store.Account,
    /** Every access token issued by the token endpoint, oldest first (expired ones stay listed). */
    tokens,
    /** The org and user ids behind the identity URL (`${url}/id/${orgId}/${userId}`). */
    orgId,
    userId,
    /** Invalidates every access token issued so far: the next API call with one gets 401 INVALID_SESSION_ID. */
    expireTokens() { liveTokens.clear(); },
    /** Revokes the refresh token (token requests then get invalid_grant) and the access tokens issued from it. */
    revokeRefreshToken() { refreshRevoked = true; liveTokens.clear(); },
    /** API calls counted so far (the n of Sforce-Limit-Info: api-usage=n/15000). */
    get apiUsage() { return apiUsage; },
    requests: server.requests,
    fail: server.fail,
    delay: server.delay,
    close: server.close,
  };
}
