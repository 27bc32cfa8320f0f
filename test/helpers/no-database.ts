/**
 * Set-up of `npm run test:unit`, which runs without database servers: a test that still reaches for one meets a
 * closed port, and (as under CI) a database suite fails instead of skipping.
 */
process.env.TEST_POSTGRES_URL = 'postgres://postgres@127.0.0.1:1/none';
process.env.TEST_MYSQL_URL = 'mysql://root@127.0.0.1:1/none';
process.env.CI = 'true';
