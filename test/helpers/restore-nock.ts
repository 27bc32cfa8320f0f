import nock from 'nock';

// nock patches Node's http module, which outlives a test file's module registry. Every file hands it back
// when done, so the next file in the same Jest worker starts with its own nock and no stale interceptor.
afterAll(() => {
	nock.cleanAll();
	nock.enableNetConnect();
	nock.restore();
});
