import { storeCredentialTest, testOAuthApp } from './credentialTest';

/** The credential tests n8n runs from each credential's Test button, by the `testedBy` names of the node's slots. */
export const credentialTest = {
	oAuthAppTest: testOAuthApp,
	supabaseStoreTest: storeCredentialTest('supabase'),
	postgresStoreTest: storeCredentialTest('postgres'),
	mySqlStoreTest: storeCredentialTest('mysql'),
	embeddedStoreTest: storeCredentialTest('embedded'),
};
