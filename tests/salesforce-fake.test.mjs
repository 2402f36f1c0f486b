/**
 * Tests of the Salesforce fake itself (tests/fakes/salesforce.mjs).
 * Run: node --test tests/salesforce-fake.test.mjs
 */
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { startSalesforce } from './fakes/salesforce.mjs';

const SF_TIME = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.000\+0000$/;
const ID18 = /^[a-zA-Z0-9]{18}$/;
const CLIENT_ID = '3MVG9lKcPoNINVBIPJjdw1J9LLM82HnFVVX19KY1uA5mu0QqEWhqKpoW3svG3XHrXDiCQjK1mdgAvhCscA9GE';
const CLIENT_SECRET = '1955279925675241571';
const REFRESH_TOKEN = '5Aep861TSESvWeug_xvFHRBTTbf_YrTWgEyjBJrRpDMQYpDXeVaQ8vm2Ef5WmE9oSJ7HRnzDYkwcnm5LRkWRgJ0';
const SESSION_EXPIRED = [{ message: 'Session expired or invalid', errorCode: 'INVALID_SESSION_ID' }];

async function call(url, init = {}) {
  const res = await fetch(url, init);
  const text = await res.text();
  const type = res.headers.get('content-type') ?? '';
  return { status: res.status, headers: res.headers, text, json: type.includes('json') && text ? JSON.parse(text) : undefined };
}

describe('Salesforce fake', () => {
  let sf;
  let token;
  let acme;
  let ada;
  let bob;
  let openCase;
  let closedCase;
  let newerCase;

  const form = (fields) => new URLSearchParams(fields).toString();
  const requestToken = (fields = {}, headers = {}) => call(`${sf.url}/services/oauth2/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers },
    body: form({ grant_type: 'refresh_token', client_id: CLIENT_ID, client_secret: CLIENT_SECRET, refresh_token: REFRESH_TOKEN, ...fields }),
  });
  const api = (path, init = {}) => call(`${sf.url}/services/data/v57.0${path}`, {
    ...init,
    headers: { authorization: `Bearer ${token}`, ...(init.body ? { 'content-type': 'application/json' } : {}), ...init.headers },
  });
  const query = (soql) => api(`/query?q=${encodeURIComponent(soql)}`);
  const send = (method, path, body) => api(path, { method, body: JSON.stringify(body) });

  before(async () => {
    sf = await startSalesforce({
      clientId: CLIENT_ID,
      clientSecret: CLIENT_SECRET,
      refreshToken: REFRESH_TOKEN,
      accounts: [{ Id: '0015g00000XyZ12', Name: 'Acme Corp', Type: 'Customer - Direct', Phone: '+1 415 555 0100' }],
      contacts: [
        { Id: '0035g00000AdA01', FirstName: 'Ada', LastName: "O'Lovelace", Email: 'Ada.Lovelace@Example.com', Phone: '+14155550142', AccountId: '0015g00000XyZ12', Loyalty_Tier__c: 'Gold' },
        { Id: '0035g00000BoB02', FirstName: 'Bob', LastName: 'Builder', Email: 'bob@example.com', MobilePhone: '+14155550142' },
        { Name: 'Nobody', Phone: '(415) 555-0142' },
      ],
      cases: [
        { Subject: 'Printer on fire', Status: 'Working', Priority: 'High', Origin: 'Phone', ContactId: '0035g00000AdA01', CreatedDate: '2024-05-01T12:00:00Z' },
        { Subject: 'Old issue', Status: 'Closed', ContactId: '0035g00000AdA01', CreatedDate: '2024-04-01T08:30:00Z' },
        { Subject: 'Newest', Status: 'New', ContactId: '0035g00000AdA01', CreatedDate: '2024-05-03T09:00:00Z' },
      ],
    });
    [acme] = sf.accounts;
    [ada, bob] = sf.contacts;
    [openCase, closedCase, newerCase] = sf.cases;
    token = (await requestToken()).json.access_token;
  });
  after(() => sf.close());

  // --- OAuth ----------------------------------------------------------------------------------------------------

  test('refresh token flow: the documented token response, with a verifiable signature', async () => {
    const res = await requestToken();
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type'), /^application\/json/);
    assert.equal(res.headers.get('cache-control'), 'no-store');
    const body = res.json;
    assert.deepEqual(Object.keys(body).sort(), ['access_token', 'id', 'instance_url', 'issued_at', 'scope', 'signature', 'token_type']);
    assert.match(body.access_token, /^00D[a-zA-Z0-9]{12}!AQ/);
    assert.equal(body.instance_url, sf.url);
    assert.equal(body.id, `${sf.url}/id/${sf.orgId}/${sf.userId}`);
    assert.match(sf.orgId, /^00D/);
    assert.match(sf.userId, /^005/);
    assert.equal(body.token_type, 'Bearer');
    assert.equal(body.scope, 'api refresh_token');
    assert.match(body.issued_at, /^\d{13}$/);
    assert.ok(Math.abs(Number(body.issued_at) - Date.now()) < 60_000);
    assert.equal(body.signature, createHmac('sha256', CLIENT_SECRET).update(body.id + body.issued_at).digest('base64'));
    assert.equal(body.refresh_token, undefined, 'no rotation: the refresh token is not re-issued');
    assert.equal(sf.tokens.at(-1), body.access_token);
    assert.equal(res.headers.get('sforce-limit-info'), null, 'the login host sends no API usage');

    // Client credentials may come as HTTP Basic instead of body parameters.
    const basic = await call(`${sf.url}/services/oauth2/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: `Basic ${Buffer.from(`${CLIENT_ID}:${CLIENT_SECRET}`).toString('base64')}` },
      body: form({ grant_type: 'refresh_token', refresh_token: REFRESH_TOKEN }),
    });
    assert.equal(basic.status, 200);
    assert.ok(basic.json.access_token);
    const request = sf.requests.findLast((r) => r.path === '/services/oauth2/token');
    assert.match(request.body, /grant_type=refresh_token/);
  });

  test('token errors: wrong client id, wrong secret, wrong refresh token, other grant types, GET', async () => {
    const cases = [
      [{ client_id: 'nope' }, { error: 'invalid_client_id', error_description: 'client identifier invalid' }],
      [{ client_secret: 'nope' }, { error: 'invalid_client', error_description: 'invalid client credentials' }],
      [{ refresh_token: 'nope' }, { error: 'invalid_grant', error_description: 'expired access/refresh token' }],
      [{ grant_type: 'password' }, { error: 'unsupported_grant_type', error_description: 'grant type not supported' }],
    ];
    for (const [fields, expected] of cases) {
      const res = await requestToken(fields);
      assert.equal(res.status, 400, JSON.stringify(fields));
      assert.deepEqual(res.json, expected);
      assert.equal(res.headers.get('cache-control'), 'no-store');
    }
    const get = await call(`${sf.url}/services/oauth2/token?grant_type=refresh_token`);
    assert.equal(get.status, 400);
    assert.deepEqual(get.json, { error: 'invalid_request', error_description: 'must use HTTP POST' });
  });

  test('REST without a usable Authorization header is 401 (INVALID_AUTH_HEADER / INVALID_SESSION_ID)', async () => {
    const path = `${sf.url}/services/data/v57.0/sobjects/Contact/${ada.Id}`;
    const none = await call(path);
    assert.equal(none.status, 401);
    assert.deepEqual(none.json, [{ message: 'INVALID_HEADER_TYPE', errorCode: 'INVALID_AUTH_HEADER' }]);
    const basic = await call(path, { headers: { authorization: 'Basic Zm9vOmJhcg==' } });
    assert.deepEqual(basic.json, [{ message: 'INVALID_HEADER_TYPE', errorCode: 'INVALID_AUTH_HEADER' }]);
    const bogus = await call(path, { headers: { authorization: 'Bearer 00Dxx0000000001!AQbogus' } });
    assert.equal(bogus.status, 401);
    assert.deepEqual(bogus.json, SESSION_EXPIRED);
    const legacy = await call(path, { headers: { authorization: `OAuth ${token}` } });
    assert.equal(legacy.status, 200, 'the older "OAuth <token>" scheme is accepted too');
  });

  test('expireTokens(): old tokens get INVALID_SESSION_ID, a refreshed one works; revokeRefreshToken() ends the grant', async () => {
    const old = token;
    sf.expireTokens();
    const expired = await api(`/sobjects/Contact/${ada.Id}`);
    assert.equal(expired.status, 401);
    assert.deepEqual(expired.json, SESSION_EXPIRED);
    const refreshed = await requestToken();
    assert.equal(refreshed.status, 200);
    token = refreshed.json.access_token;
    assert.notEqual(token, old);
    assert.equal((await api(`/sobjects/Contact/${ada.Id}`)).status, 200);
    assert.ok(sf.tokens.includes(old) && sf.tokens.includes(token));

    // A separate fake so the shared one keeps its refresh token.
    const other = await startSalesforce({ clientId: 'a', clientSecret: 'b', refreshToken: 'c' });
    try {
      const ok = await call(`${other.url}/services/oauth2/token`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: 'grant_type=refresh_token&client_id=a&client_secret=b&refresh_token=c' });
      assert.equal(ok.status, 200);
      other.revokeRefreshToken();
      const denied = await call(`${other.url}/services/oauth2/token`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: 'grant_type=refresh_token&client_id=a&client_secret=b&refresh_token=c' });
      assert.equal(denied.status, 400);
      assert.deepEqual(denied.json, { error: 'invalid_grant', error_description: 'expired access/refresh token' });
      const api2 = await call(`${other.url}/services/data/v57.0/query?q=SELECT+Id+FROM+Contact`, { headers: { authorization: `Bearer ${ok.json.access_token}` } });
      assert.deepEqual(api2.json, SESSION_EXPIRED, 'revoking the refresh token revokes its access tokens');
    } finally {
      await other.close();
    }
  });

  // --- sObject Rows ---------------------------------------------------------------------------------------------

  test('GET Contact by id: attributes, 18-character Id, standard fields (null when empty), custom fields, limit header', async () => {
    const res = await api(`/sobjects/Contact/${ada.Id}`);
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('content-type'), 'application/json;charset=UTF-8');
    assert.match(res.headers.get('sforce-limit-info'), /^api-usage=\d+\/15000$/);
    const c = res.json;
    assert.deepEqual(c.attributes, { type: 'Contact', url: `/services/data/v57.0/sobjects/Contact/${ada.Id}` });
    assert.match(c.Id, ID18);
    assert.ok(c.Id.startsWith('003'));
    assert.equal(c.FirstName, 'Ada');
    assert.equal(c.LastName, "O'Lovelace");
    assert.equal(c.Name, "Ada O'Lovelace");
    assert.equal(c.Email, 'Ada.Lovelace@Example.com');
    assert.equal(c.Phone, '+14155550142');
    assert.equal(c.MobilePhone, null);
    assert.equal(c.AccountId, acme.Id);
    assert.equal(c.Loyalty_Tier__c, 'Gold');
    assert.equal(ada.Id, '0035g00000AdA01AAF', 'seeded 15-character ids get their checksum suffix');
    assert.match(c.CreatedDate, SF_TIME);
    assert.deepEqual(c, ada, 'the handle holds the record the API serves');

    const bobRes = await api(`/sobjects/Contact/${bob.Id}`);
    assert.equal(bobRes.json.Loyalty_Tier__c, null, 'a custom field seeded on one contact exists on all');
    assert.equal(bobRes.json.AccountId, null);

    const id15 = await api(`/sobjects/Contact/${ada.Id.slice(0, 15)}`);
    assert.equal(id15.status, 200, 'the 15-character form works');
    assert.equal(id15.json.Id, ada.Id, 'and the answer carries the 18-character id');

    const some = await api(`/sobjects/Contact/${ada.Id}?fields=email,FirstName`);
    assert.deepEqual(some.json, { attributes: c.attributes, Email: c.Email, FirstName: 'Ada', Id: ada.Id });
    const bad = await api(`/sobjects/Contact/${ada.Id}?fields=Email,Foo`);
    assert.equal(bad.status, 400);
    assert.equal(bad.json[0].errorCode, 'INVALID_FIELD');
    assert.match(bad.json[0].message, /^No such column 'Foo' on entity 'Contact'/);
  });

  test('unknown, malformed and wrong-object ids; unknown version or resource', async () => {
    const missing = await api('/sobjects/Contact/0035g00000ZzZ99');
    assert.equal(missing.status, 404);
    assert.deepEqual(missing.json, [{ errorCode: 'NOT_FOUND', message: 'The requested resource does not exist' }]);
    for (const id of ['abc', openCase.Id]) {
      const res = await api(`/sobjects/Contact/${id}`);
      assert.equal(res.status, 404, id);
      assert.deepEqual(res.json, [{ errorCode: 'NOT_FOUND', message: `Provided external ID field does not exist or is not accessible: ${id}` }]);
    }
    const version = await call(`${sf.url}/services/data/v99.0/sobjects/Contact/${ada.Id}`, { headers: { authorization: `Bearer ${token}` } });
    assert.equal(version.status, 404);
    assert.deepEqual(version.json, [{ errorCode: 'NOT_FOUND', message: 'The requested resource does not exist' }]);
    assert.equal((await api(`/sobjects/Lead/00Q000000000001`)).status, 404);

    const versions = await call(`${sf.url}/services/data`);
    assert.equal(versions.status, 200, 'the Versions resource needs no token');
    assert.deepEqual(versions.json, [{ label: "Spring '23", url: '/services/data/v57.0', version: '57.0' }]);
    assert.equal(versions.headers.get('sforce-limit-info'), null);
  });

  test('Case record: CaseNumber, picklists, IsClosed from Status, Salesforce datetimes, contact mirror fields', async () => {
    const res = await api(`/sobjects/Case/${openCase.Id}`);
    assert.equal(res.status, 200);
    const c = res.json;
    assert.ok(c.Id.startsWith('500'));
    assert.match(c.Id, ID18);
    assert.equal(c.CaseNumber, '00001001');
    assert.equal(closedCase.CaseNumber, '00001002');
    assert.equal(c.Subject, 'Printer on fire');
    assert.equal(c.Status, 'Working');
    assert.equal(c.Priority, 'High');
    assert.equal(c.Origin, 'Phone');
    assert.equal(c.IsClosed, false);
    assert.equal(c.ClosedDate, null);
    assert.equal(c.ContactId, ada.Id);
    assert.equal(c.ContactEmail, 'Ada.Lovelace@Example.com');
    assert.equal(c.Description, null);
    assert.equal(c.CreatedDate, '2024-05-01T12:00:00.000+0000');
    assert.equal(c.LastModifiedDate, '2024-05-01T12:00:00.000+0000');
    const closed = (await api(`/sobjects/Case/${closedCase.Id}`)).json;
    assert.equal(closed.IsClosed, true);
    assert.match(closed.ClosedDate, SF_TIME);
    assert.equal(closed.Priority, 'Medium');
  });

  test('POST Case: 201 {id, errors, success}; defaults New/Medium; AccountId from the contact', async () => {
    const res = await send('POST', '/sobjects/Case', { Subject: 'Call back', Description: 'Voicemail', Origin: 'Phone', ContactId: ada.Id.slice(0, 15) });
    assert.equal(res.status, 201);
    assert.deepEqual(Object.keys(res.json).sort(), ['errors', 'id', 'success']);
    assert.equal(res.json.success, true);
    assert.deepEqual(res.json.errors, []);
    assert.match(res.json.id, /^500[a-zA-Z0-9]{15}$/);
    const created = sf.cases.find((x) => x.Id === res.json.id);
    assert.equal(created.Status, 'New');
    assert.equal(created.Priority, 'Medium');
    assert.equal(created.Origin, 'Phone');
    assert.equal(created.ContactId, ada.Id, 'stored as the 18-character id');
    assert.equal(created.AccountId, acme.Id);
    assert.equal(created.IsClosed, false);
    assert.equal(created.CaseNumber, '00001004');
    assert.match(created.CreatedDate, SF_TIME);
    const req = sf.requests.at(-1);
    assert.equal(req.method, 'POST');
    assert.equal(req.json.Subject, 'Call back');

    const bare = await send('POST', '/sobjects/Case', { subject: 'lower-case field names work' });
    assert.equal(bare.status, 201);
    assert.equal(sf.cases.at(-1).Subject, 'lower-case field names work');
    assert.equal(sf.cases.at(-1).Origin, null);
  });

  test('Case validation: restricted picklists, unknown and read-only fields, bad ids, too long, bad JSON', async () => {
    const expect400 = async (body, expected) => {
      const res = await send('POST', '/sobjects/Case', body);
      assert.equal(res.status, 400, JSON.stringify(body));
      assert.deepEqual(res.json, expected);
    };
    const before = sf.cases.length;
    await expect400({ Subject: 'x', Status: 'Pending' }, [{ message: 'Status: bad value for restricted picklist field: Pending', errorCode: 'INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST', fields: ['Status'] }]);
    await expect400({ Subject: 'x', Priority: 'Urgent' }, [{ message: 'Priority: bad value for restricted picklist field: Urgent', errorCode: 'INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST', fields: ['Priority'] }]);
    await expect400({ Subject: 'x', Foo: 1 }, [{ message: "No such column 'Foo' on sobject of type Case", errorCode: 'INVALID_FIELD' }]);
    await expect400({ Subject: 'x', IsClosed: true }, [{
      message: 'Unable to create/update fields: IsClosed. Please check the security settings of this field and verify that it is read/write for your profile or permission set.',
      errorCode: 'INVALID_FIELD_FOR_INSERT_UPDATE',
      fields: ['IsClosed'],
    }]);
    await expect400({ Subject: 'x', ContactId: 'bogus' }, [{ message: 'Contact ID: id value of incorrect type: bogus', errorCode: 'MALFORMED_ID', fields: ['ContactId'] }]);
    await expect400({ Subject: 'x', ContactId: acme.Id }, [{ message: `Contact ID: id value of incorrect type: ${acme.Id}`, errorCode: 'MALFORMED_ID', fields: ['ContactId'] }]);
    const long = await send('POST', '/sobjects/Case', { Subject: 'x'.repeat(256) });
    assert.equal(long.json[0].errorCode, 'STRING_TOO_LONG');
    assert.deepEqual(long.json[0].fields, ['Subject']);
    const badJson = await api('/sobjects/Case', { method: 'POST', body: '{"Subject":' });
    assert.equal(badJson.status, 400);
    assert.equal(badJson.json[0].errorCode, 'JSON_PARSER_ERROR');
    assert.equal(sf.cases.length, before, 'nothing created');
  });

  test('PATCH Case: 204 without a body, LastModifiedDate and IsClosed recomputed, 404 and validation', async () => {
    const target = newerCase;
    const res = await send('PATCH', `/sobjects/Case/${target.Id}`, { Status: 'Closed', Description: 'Solved by phone' });
    assert.equal(res.status, 204);
    assert.equal(res.text, '');
    assert.match(res.headers.get('sforce-limit-info'), /^api-usage=\d+\/15000$/);
    assert.equal(target.Status, 'Closed');
    assert.equal(target.IsClosed, true);
    assert.match(target.ClosedDate, SF_TIME);
    assert.equal(target.Description, 'Solved by phone');
    assert.equal(target.CreatedDate, '2024-05-03T09:00:00.000+0000');
    assert.ok(Date.parse(target.LastModifiedDate.replace('+0000', 'Z')) > Date.parse('2024-05-03T09:00:00Z'));

    const reopen = await send('PATCH', `/sobjects/Case/${target.Id}`, { Status: 'On Hold', Priority: 'Low' });
    assert.equal(reopen.status, 204);
    assert.equal(target.IsClosed, false);
    assert.equal(target.ClosedDate, null);
    assert.equal(target.Priority, 'Low');

    const nullStatus = await send('PATCH', `/sobjects/Case/${target.Id}`, { Status: null });
    assert.equal(nullStatus.status, 204);
    assert.equal(target.Status, 'On Hold', 'Status: null is accepted and ignored');

    const bad = await send('PATCH', `/sobjects/Case/${target.Id}`, { Status: 'Done' });
    assert.equal(bad.status, 400);
    assert.equal(bad.json[0].errorCode, 'INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST');
    assert.equal(target.Status, 'On Hold');
    const missing = await send('PATCH', '/sobjects/Case/5005g00000ZzZ99', { Status: 'Closed' });
    assert.equal(missing.status, 404);
    assert.deepEqual(missing.json, [{ errorCode: 'NOT_FOUND', message: 'The requested resource does not exist' }]);
    // Seeded open again for the query tests below.
    target.Status = 'New';
  });

  // --- SOQL -----------------------------------------------------------------------------------------------------

  test('query by email: case-insensitive, {totalSize, done, records}, only the selected fields in API casing', async () => {
    const res = await query("SELECT id, firstname, LastName, Email FROM contact WHERE Email = 'ada.lovelace@example.COM'");
    assert.equal(res.status, 200);
    assert.deepEqual(res.json, {
      totalSize: 1,
      done: true,
      records: [{
        attributes: { type: 'Contact', url: `/services/data/v57.0/sobjects/Contact/${ada.Id}` },
        Id: ada.Id,
        FirstName: 'Ada',
        LastName: "O'Lovelace",
        Email: 'Ada.Lovelace@Example.com',
      }],
    });
    // `+` for spaces, as an application/x-www-form-urlencoded encoder writes it.
    const plus = await api(`/query?q=SELECT+Id+FROM+Contact+WHERE+Email+%3D+'bob%40example.com'`);
    assert.equal(plus.json.totalSize, 1);
    assert.equal(plus.json.records[0].Id, bob.Id);
    const none = await query("SELECT Id FROM Contact WHERE Email = 'nobody@example.com'");
    assert.deepEqual(none.json, { totalSize: 0, done: true, records: [] });
  });

  test('query by phone: Phone OR MobilePhone, compared exactly as stored (no normalisation)', async () => {
    const res = await query("SELECT Id, Name, Phone, MobilePhone FROM Contact WHERE Phone = '+14155550142' OR MobilePhone = '+14155550142'");
    assert.equal(res.status, 200);
    assert.deepEqual(res.json.records.map((r) => r.Id), [ada.Id, bob.Id]);
    assert.equal(res.json.records[1].MobilePhone, '+14155550142');
    assert.equal(res.json.records[1].Phone, null);
    const formatted = await query("SELECT Id FROM Contact WHERE Phone = '4155550142'");
    assert.equal(formatted.json.totalSize, 0, '"(415) 555-0142" and "+14155550142" do not match 4155550142');
    const like = await query("SELECT Id, Phone FROM Contact WHERE Phone LIKE '%555-0142'");
    assert.deepEqual(like.json.records.map((r) => r.Phone), ['(415) 555-0142'], 'LIKE % wildcard');
    const one = await query("SELECT Id FROM Contact WHERE Phone LIKE '%555_0142'");
    assert.equal(one.json.totalSize, 2, 'LIKE _ matches one character ("+14155550142" and "(415) 555-0142")');
  });

  test('relationship fields nest under the relationship name; null when there is no parent', async () => {
    const res = await query('SELECT Id, Name, Account.Name, Account.Type, AccountId FROM Contact ORDER BY LastName');
    assert.equal(res.status, 200);
    const byId = Object.fromEntries(res.json.records.map((r) => [r.Id, r]));
    assert.deepEqual(byId[ada.Id].Account, {
      attributes: { type: 'Account', url: `/services/data/v57.0/sobjects/Account/${acme.Id}` },
      Name: 'Acme Corp',
      Type: 'Customer - Direct',
    });
    assert.deepEqual(Object.keys(byId[ada.Id]), ['attributes', 'Id', 'Name', 'Account', 'AccountId']);
    assert.equal(byId[bob.Id].Account, null);
    assert.deepEqual(res.json.records.map((r) => r.Name), ['Bob Builder', 'Nobody', "Ada O'Lovelace"]);
    const where = await query("SELECT Id FROM Contact WHERE Account.Name = 'acme corp'");
    assert.deepEqual(where.json.records.map((r) => r.Id), [ada.Id]);
    const caseRel = await query(`SELECT Id, Contact.Email FROM Case WHERE Id = '${openCase.Id}'`);
    assert.equal(caseRel.json.records[0].Contact.Email, 'Ada.Lovelace@Example.com');
  });

  test("a contact's open cases: AND, IsClosed = false, ORDER BY CreatedDate DESC, LIMIT", async () => {
    const soql = `SELECT Id, CaseNumber, Subject, Status, IsClosed, CreatedDate FROM Case WHERE ContactId = '${ada.Id}' AND IsClosed = false ORDER BY CreatedDate DESC LIMIT 5`;
    const res = await query(soql);
    assert.equal(res.status, 200);
    // 'Call back' was created by an earlier test, i.e. now.
    assert.deepEqual(res.json.records.map((r) => r.Subject), ['Call back', 'Newest', 'Printer on fire']);
    assert.ok(res.json.records.every((r) => r.IsClosed === false));
    assert.equal(res.json.totalSize, 3);
    const limited = await query(soql.replace('LIMIT 5', 'LIMIT 1'));
    assert.deepEqual(limited.json.records.map((r) => r.Subject), ['Call back']);
    assert.equal(limited.json.totalSize, 1);
    const by15 = await query(`SELECT Id FROM Case WHERE ContactId = '${ada.Id.slice(0, 15)}' AND IsClosed = true`);
    assert.deepEqual(by15.json.records.map((r) => r.Id), [closedCase.Id]);
    const escaped = await query("SELECT Id FROM Contact WHERE LastName = 'O\\'Lovelace'");
    assert.deepEqual(escaped.json.records.map((r) => r.Id), [ada.Id], "SOQL escapes: \\'");
  });

  test('case lookup by exact Subject (SOQL escapes, ORDER BY CreatedDate DESC LIMIT 1); a create whose answer was lost is found', async () => {
    const subject = `Call from Ada O'Lovelace: "printer" \\ 50% off_now`;
    const soqlString = (value) => value.replace(/\\/g, '\\\\').replace(/'/g, "\\'");
    const lookup = (value) => query(`SELECT Id, Subject, Description, Status, Priority, ContactId, CreatedDate, LastModifiedDate FROM Case WHERE Subject = '${soqlString(value)}' ORDER BY CreatedDate DESC LIMIT 1`);
    assert.deepEqual((await lookup(subject)).json, { totalSize: 0, done: true, records: [] });

    const count = sf.cases.length;
    sf.fail(/^POST \/services\/data\/v57\.0\/sobjects\/Case$/, { status: 500, after: true });
    const lost = await send('POST', '/sobjects/Case', { Subject: subject, Description: 'Caller asked for a refund', ContactId: ada.Id, Origin: 'Phone' });
    assert.equal(lost.status, 500);
    assert.equal(lost.json[0].errorCode, 'UNKNOWN_EXCEPTION');
    assert.equal(sf.cases.length, count + 1, 'the Case was created all the same');
    const made = sf.cases.at(-1);

    const found = await lookup(subject);
    assert.equal(found.status, 200, found.text);
    assert.equal(found.json.totalSize, 1);
    assert.deepEqual(found.json.records, [{
      attributes: { type: 'Case', url: `/services/data/v57.0/sobjects/Case/${made.Id}` },
      Id: made.Id,
      Subject: subject,
      Description: 'Caller asked for a refund',
      Status: 'New',
      Priority: 'Medium',
      ContactId: ada.Id,
      CreatedDate: made.CreatedDate,
      LastModifiedDate: made.LastModifiedDate,
    }]);
    assert.match(made.CreatedDate, SF_TIME);
    assert.deepEqual((await lookup(subject.toUpperCase())).json.records.map((r) => r.Id), [made.Id], 'string = is case-insensitive');
    for (const other of [subject.slice(0, 20), `${subject} `, subject.replace('50%', '5%')]) {
      assert.equal((await lookup(other)).json.totalSize, 0, `= is whole-value, no wildcards: ${other}`);
    }
    const unescaped = await query(`SELECT Id FROM Case WHERE Subject = '${subject}'`);
    assert.equal(unescaped.status, 400);
    assert.equal(unescaped.json[0].errorCode, 'MALFORMED_QUERY');

    // Two cases with the subject: LIMIT 1 after ORDER BY CreatedDate DESC gives the newer.
    made.CreatedDate = '2024-05-02T12:00:00.000+0000';
    const again = await send('POST', '/sobjects/Case', { Subject: subject, ContactId: ada.Id });
    assert.equal(again.status, 201);
    assert.deepEqual((await lookup(subject)).json.records.map((r) => r.Id), [again.json.id]);
    const both = await query(`SELECT Id FROM Case WHERE Subject = '${soqlString(subject)}' ORDER BY CreatedDate ASC`);
    assert.deepEqual(both.json.records.map((r) => r.Id), [made.Id, again.json.id]);
  });

  test('query errors: MALFORMED_QUERY, INVALID_FIELD, INVALID_TYPE, bad filters, missing q', async () => {
    const mixed = await query("SELECT Id FROM Contact WHERE Email = 'a' AND Phone = 'b' OR MobilePhone = 'c'");
    assert.equal(mixed.status, 400);
    assert.equal(mixed.json[0].errorCode, 'MALFORMED_QUERY');
    assert.match(mixed.json[0].message, /ERROR at Row:1:Column:58\nunexpected token: 'OR'$/);
    const unknown = await query('SELECT Id, Foo FROM Contact');
    assert.deepEqual(unknown.json, [{
      message: "\nSELECT Id, Foo FROM Contact\n           ^\nERROR at Row:1:Column:12\nNo such column 'Foo' on entity 'Contact'. If you are attempting to use a custom field, be sure to append the '__c' after the custom field name. Please reference your WSDL or the describe call for the appropriate names.",
      errorCode: 'INVALID_FIELD',
    }]);
    const type = await query('SELECT Id FROM Widget__c');
    assert.equal(type.json[0].errorCode, 'INVALID_TYPE');
    assert.match(type.json[0].message, /sObject type 'Widget__c' is not supported/);
    const rel = await query('SELECT Owner.Name FROM Contact');
    assert.equal(rel.json[0].errorCode, 'INVALID_FIELD');
    assert.match(rel.json[0].message, /Didn't understand relationship 'Owner'/);
    const quotes = await query('SELECT Id FROM Contact WHERE Email = "a@b.c"');
    assert.equal(quotes.json[0].errorCode, 'MALFORMED_QUERY');
    const escape = await query("SELECT Id FROM Contact WHERE Email = 'a\\qb'");
    assert.equal(escape.json[0].errorCode, 'MALFORMED_QUERY');
    const badId = await query("SELECT Id FROM Case WHERE ContactId = 'nope'");
    assert.deepEqual(badId.json, [{ message: "\nSELECT Id FROM Case WHERE ContactId = 'nope'\n                                      ^\nERROR at Row:1:Column:39\ninvalid ID field: nope", errorCode: 'INVALID_QUERY_FILTER_OPERATOR' }]);
    const quotedBool = await query("SELECT Id FROM Case WHERE IsClosed = 'false'");
    assert.equal(quotedBool.json[0].errorCode, 'INVALID_QUERY_FILTER_OPERATOR');
    const noQ = await api('/query');
    assert.deepEqual(noQ.json, [{ message: 'A query string has to be specified', errorCode: 'MALFORMED_QUERY' }]);
    const empty = await api('/query?q=');
    assert.deepEqual(empty.json, [{ message: 'SOQL statements cannot be empty or null', errorCode: 'MALFORMED_QUERY' }]);
  });

  // --- Injected faults ------------------------------------------------------------------------------------------

  test('injected REQUEST_LIMIT_EXCEEDED: 403 with the documented body and a used-up Sforce-Limit-Info', async () => {
    sf.fail(/\/query\?/, { status: 403, errorCode: 'REQUEST_LIMIT_EXCEEDED' });
    const res = await query('SELECT Id FROM Contact');
    assert.equal(res.status, 403);
    assert.deepEqual(res.json, [{ message: 'TotalRequests Limit exceeded.', errorCode: 'REQUEST_LIMIT_EXCEEDED' }]);
    assert.equal(res.headers.get('sforce-limit-info'), `api-usage=15001/15000`);
    const again = await query('SELECT Id FROM Contact');
    assert.equal(again.status, 200, 'times defaults to 1');
    const [, used] = /api-usage=(\d+)\//.exec(again.headers.get('sforce-limit-info'));
    assert.equal(Number(used), sf.apiUsage);
  });

  test('injected 503, 500 and 401 are Salesforce-shaped; the token endpoint gets OAuth-shaped faults', async () => {
    sf.fail(/^GET \/services\/data\/v57\.0\/sobjects\/Case\//, { status: 503, times: 2, retryAfter: 3 });
    for (let i = 0; i < 2; i++) {
      const res = await api(`/sobjects/Case/${openCase.Id}`);
      assert.equal(res.status, 503);
      assert.equal(res.json[0].errorCode, 'SERVER_UNAVAILABLE');
      assert.equal(res.headers.get('retry-after'), '3');
    }
    assert.equal((await api(`/sobjects/Case/${openCase.Id}`)).status, 200);

    sf.fail(/sobjects\/Contact/, { status: 500 });
    const boom = await api(`/sobjects/Contact/${ada.Id}`);
    assert.equal(boom.status, 500);
    assert.equal(boom.json[0].errorCode, 'UNKNOWN_EXCEPTION');
    assert.match(boom.json[0].message, /^An unexpected error occurred\. Please include this ErrorId if you contact support: \d+-\d+ \(-\d+\)$/);

    sf.fail(/sobjects\/Contact/, { status: 401 });
    const session = await api(`/sobjects/Contact/${ada.Id}`);
    assert.equal(session.status, 401);
    assert.deepEqual(session.json, SESSION_EXPIRED);
    assert.equal((await api(`/sobjects/Contact/${ada.Id}`)).status, 200, 'the token itself stays valid');

    sf.fail(/oauth2\/token/, { status: 400 });
    const grant = await requestToken();
    assert.deepEqual(grant.json, { error: 'invalid_grant', error_description: 'expired access/refresh token' });
    sf.fail(/oauth2\/token/, { status: 503 });
    const down = await requestToken();
    assert.equal(down.status, 503);
    assert.deepEqual(down.json, { error: 'unknown_error', error_description: 'retry your request' });
  });

  test('delay() holds an answer back', async () => {
    sf.delay(/\/query\?/, { ms: 150 });
    const started = Date.now();
    const res = await query('SELECT Id FROM Account');
    assert.equal(res.status, 200);
    assert.ok(Date.now() - started >= 140);
    assert.deepEqual(res.json.records.map((r) => r.Id), [acme.Id]);
  });

  test('delay(): a create carried out whose answer never comes (client timeout); after: false never carries it out', async () => {
    const post = (Subject) => fetch(`${sf.url}/services/data/v57.0/sobjects/Case`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ Subject }),
      signal: AbortSignal.timeout(100),
    });
    const count = sf.cases.length;
    sf.delay(/^POST \/services\/data\/v57\.0\/sobjects\/Case$/, { ms: Infinity });
    await assert.rejects(post('Timed out after the write'), /TimeoutError|aborted/);
    assert.equal(sf.cases.length, count + 1);
    assert.equal(sf.cases.at(-1).Subject, 'Timed out after the write');
    sf.delay(/^POST \/services\/data\/v57\.0\/sobjects\/Case$/, { ms: Infinity, after: false });
    await assert.rejects(post('Never written'), /TimeoutError|aborted/);
    assert.equal(sf.cases.length, count + 1);
  });

  test('restrictedPicklists: false accepts off-list values, as an unrestricted org does', async () => {
    const loose = await startSalesforce({ clientId: 'a', clientSecret: 'b', refreshToken: 'c', restrictedPicklists: false });
    try {
      const tok = await call(`${loose.url}/services/oauth2/token?grant_type=refresh_token&client_id=a&client_secret=b&refresh_token=c`, { method: 'POST' });
      assert.equal(tok.status, 200, 'parameters may be sent in the query string');
      const res = await call(`${loose.url}/services/data/v57.0/sobjects/Case`, {
        method: 'POST',
        headers: { authorization: `Bearer ${tok.json.access_token}`, 'content-type': 'application/json' },
        body: JSON.stringify({ Subject: 'x', Status: 'Waiting on customer', Priority: 'Urgent' }),
      });
      assert.equal(res.status, 201);
      assert.equal(loose.cases[0].Status, 'Waiting on customer');
      assert.equal(loose.cases[0].IsClosed, false);
    } finally {
      await loose.close();
    }
  });
});

describe('Salesforce fake: SOSL Search resource', () => {
  let sf;
  let token;
  let acme;
  let ada;
  let bob;
  let cara;

  // What the Edgedesk client sends: the caller's number reduced to digits.
  const LOOKUP = (digits) => `FIND {${digits}} IN PHONE FIELDS RETURNING Contact(Id, Name, Email, Phone, MobilePhone, AccountId, Account.Name, Tier__c ORDER BY LastModifiedDate DESC LIMIT 1)`;
  const search = (sosl, { slash = true, headers } = {}) => call(`${sf.url}/services/data/v57.0/search${slash ? '/' : ''}?q=${encodeURIComponent(sosl)}`, {
    headers: headers ?? { authorization: `Bearer ${token}` },
  });

  before(async () => {
    sf = await startSalesforce({
      clientId: 'a',
      clientSecret: 'b',
      refreshToken: 'c',
      accounts: [{ Name: 'Acme Corp' }],
      contacts: [
        { FirstName: 'Ada', LastName: 'Lovelace', Email: 'Ada.Lovelace@example.com', Phone: '(555) 010-0099', Tier__c: 'Gold', LastModifiedDate: '2024-05-01T12:00:00Z' },
        { FirstName: 'Bob', LastName: 'Builder', MobilePhone: '+1 (555) 010-0188', Tier__c: 'Silver', LastModifiedDate: '2024-05-02T12:00:00Z' },
        { FirstName: 'Cara', LastName: 'Way', HomePhone: '555.010.0188 ext 12', LastModifiedDate: '2024-05-03T12:00:00Z' },
      ],
    });
    [acme] = sf.accounts;
    [ada, bob, cara] = sf.contacts;
    ada.AccountId = acme.Id;
    const res = await call(`${sf.url}/services/oauth2/token?grant_type=refresh_token&client_id=a&client_secret=b&refresh_token=c`, { method: 'POST' });
    token = res.json.access_token;
  });
  after(() => sf.close());

  test('the client lookup finds a formatted "(555) 010-0099" by 5550100099 and by 15550100099, with only the requested fields', async () => {
    const expected = [{
      attributes: { type: 'Contact', url: `/services/data/v57.0/sobjects/Contact/${ada.Id}` },
      Id: ada.Id,
      Name: 'Ada Lovelace',
      Email: 'Ada.Lovelace@example.com',
      Phone: '(555) 010-0099',
      MobilePhone: null,
      AccountId: acme.Id,
      Account: { attributes: { type: 'Account', url: `/services/data/v57.0/sobjects/Account/${acme.Id}` }, Name: 'Acme Corp' },
      Tier__c: 'Gold',
    }];
    for (const digits of ['5550100099', '15550100099']) {
      const res = await search(LOOKUP(digits));
      assert.equal(res.status, 200, digits);
      assert.equal(res.headers.get('content-type'), 'application/json;charset=UTF-8');
      assert.match(res.headers.get('sforce-limit-info'), /^api-usage=\d+\/15000$/);
      assert.deepEqual(Object.keys(res.json), ['searchRecords']);
      assert.deepEqual(res.json.searchRecords, expected, digits);
      assert.deepEqual(Object.keys(res.json.searchRecords[0]), Object.keys(expected[0]), 'fields in RETURNING order, nothing else');
    }
    const noSlash = await search(LOOKUP('5550100099'), { slash: false });
    assert.deepEqual(noSlash.json.searchRecords, expected, '/search without the trailing slash works too');
    const some = await search('FIND {5550100099} IN PHONE FIELDS RETURNING Contact(Name)');
    assert.deepEqual(some.json.searchRecords, [{ attributes: expected[0].attributes, Name: 'Ada Lovelace' }], 'no Id unless asked for');
    const local = await search('FIND {0100099} IN PHONE FIELDS RETURNING Contact(Id)');
    assert.deepEqual(local.json.searchRecords.map((r) => r.Id), [ada.Id], 'the last 7 digits find it');
    const group = await search('FIND {0099} IN PHONE FIELDS RETURNING Contact(Id)');
    assert.deepEqual(group.json.searchRecords.map((r) => r.Id), [ada.Id], 'a digit group is a token');
    const unauthenticated = await search(LOOKUP('5550100099'), { headers: {} });
    assert.equal(unauthenticated.status, 401);
    assert.deepEqual(unauthenticated.json, [{ message: 'INVALID_HEADER_TYPE', errorCode: 'INVALID_AUTH_HEADER' }]);
  });

  test('MobilePhone and the other phone fields; a stored +1 number is found without its country code; ORDER BY + LIMIT', async () => {
    const both = await search('FIND {5550100188} IN PHONE FIELDS RETURNING Contact(Name, MobilePhone, HomePhone ORDER BY LastModifiedDate DESC)');
    assert.equal(both.status, 200);
    assert.deepEqual(both.json.searchRecords.map((r) => [r.Name, r.MobilePhone, r.HomePhone]), [
      ['Cara Way', null, '555.010.0188 ext 12'],
      ['Bob Builder', '+1 (555) 010-0188', null],
    ], 'Bob by MobilePhone (stored with +1), Cara by HomePhone (extension ignored), newest first');
    const client = await search(LOOKUP('15550100188'));
    assert.deepEqual(client.json.searchRecords.map((r) => r.Id), [cara.Id], 'LIMIT 1 keeps the most recently modified');
    const filtered = await search("FIND {5550100188} IN PHONE FIELDS RETURNING Contact(Id, Tier__c WHERE Tier__c = 'silver')");
    assert.deepEqual(filtered.json.searchRecords, [{ attributes: { type: 'Contact', url: `/services/data/v57.0/sobjects/Contact/${bob.Id}` }, Id: bob.Id, Tier__c: 'Silver' }], 'WHERE inside RETURNING');
    const email = await search('FIND {5550100188} IN EMAIL FIELDS RETURNING Contact(Id)');
    assert.deepEqual(email.json, { searchRecords: [] }, 'IN EMAIL FIELDS does not look at phones');
  });

  test('no match: an empty searchRecords list', async () => {
    for (const digits of ['5550100000', '15550100000', '100099', '99']) {
      const res = await search(LOOKUP(digits));
      assert.equal(res.status, 200, digits);
      assert.deepEqual(res.json, { searchRecords: [] }, digits);
    }
  });

  test('IN EMAIL FIELDS, IN ALL FIELDS, several RETURNING objects, no RETURNING', async () => {
    const email = await search('FIND {ada.lovelace@EXAMPLE.com} IN EMAIL FIELDS RETURNING Contact(Name), Account(Name)');
    assert.deepEqual(email.json.searchRecords.map((r) => r.Name), ['Ada Lovelace']);
    const all = await search('FIND {acme OR builder} RETURNING Contact(Name), Account(Name)');
    assert.deepEqual(all.json.searchRecords.map((r) => [r.attributes.type, r.Name]), [['Contact', 'Bob Builder'], ['Account', 'Acme Corp']]);
    const ids = await search('FIND {"acme corp"}');
    assert.deepEqual(ids.json.searchRecords, [{ attributes: { type: 'Account', url: `/services/data/v57.0/sobjects/Account/${acme.Id}` }, Id: acme.Id }]);
    const capped = await search('FIND {555*} IN PHONE FIELDS RETURNING Contact(Name ORDER BY Name) LIMIT 2');
    assert.deepEqual(capped.json.searchRecords.map((r) => r.Name), ['Ada Lovelace', 'Bob Builder']);
  });

  test('errors: MALFORMED_SEARCH in the live layout, INVALID_SEARCH for one character, INVALID_FIELD / INVALID_TYPE', async () => {
    const pipe = await search('FIND {John|jane_gray@uoa.edu} RETURNING Contact');
    assert.equal(pipe.status, 400);
    assert.deepEqual(pipe.json, [{
      message: "\nFIND {John|jane_gray@uoa.edu} RETURNING Contact\n         ^\nERROR at Row:1:Column:10\nline 1:10 mismatched character '|' expecting '}'",
      errorCode: 'MALFORMED_SEARCH',
    }]);
    const group = await search('FIND {name} IN ALL TYPE RETURNING Account(name)');
    assert.deepEqual(group.json, [{ message: '\nFIND {name} IN ALL TYPE RETURNING Account(name)\n                  ^\nERROR at Row:1:Column:19\nMalformed search token: TYPE', errorCode: 'MALFORMED_SEARCH' }]);
    for (const sosl of ['FIND 5550100099 RETURNING Contact(Id)', 'FIND {5550100099', 'SELECT Id FROM Contact', 'FIND {5550100099} IN PHONE FIELDS RETURNING Contact(Id', 'FIND {ada AND} RETURNING Contact']) {
      const res = await search(sosl);
      assert.equal(res.status, 400, sosl);
      assert.equal(res.json[0].errorCode, 'MALFORMED_SEARCH', sosl);
    }
    const missing = await call(`${sf.url}/services/data/v57.0/search/`, { headers: { authorization: `Bearer ${token}` } });
    assert.equal(missing.json[0].errorCode, 'MALFORMED_SEARCH');
    const short = await search('FIND {5} IN PHONE FIELDS RETURNING Contact(Id)');
    assert.deepEqual(short.json, [{ message: 'search term must be longer than one character: 5', errorCode: 'INVALID_SEARCH' }]);
    const field = await search('FIND {5550100099} RETURNING Contact(Id, Foo)');
    assert.equal(field.json[0].errorCode, 'INVALID_FIELD');
    assert.match(field.json[0].message, /No such column 'Foo' on entity 'Contact'/);
    const type = await search('FIND {5550100099} RETURNING Widget__c(Id)');
    assert.equal(type.json[0].errorCode, 'INVALID_TYPE');
  });
});
