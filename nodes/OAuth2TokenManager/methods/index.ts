import { storeCredentialTest, testOAuthApp } from './credentialTest';
import { searchConnections } from './listSearch';

/** The credential tests n8n runs from each credential's Test button, by the `testedBy` names of the node's slots. */
export const credentialTest = {
	oAuthAppTest: testOAuthApp,
	supabaseStoreTest: storeCredentialTest('supabase'),
	postgresStoreTest: storeCredentialTest('postgres'),
	mySqlStoreTest: storeCredentialTest('mysql'),
	embeddedStoreTest: storeCredentialTest('embedded'),
};

/** The lists of the node's resource locators ("From List" modes), by their searchListMethod names. */
export const listSearch = { searchConnections };
