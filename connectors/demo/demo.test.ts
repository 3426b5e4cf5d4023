import { runConnectorConformance } from '../sdk/conformance.js';
import { createDemoConnector, DemoDirectory } from './index.js';

// The directory stands in for the backend: the kit reads it directly, never through the connector.
const directory = new DemoDirectory({ accessKey: 'demo-access-key-s3cret' });

runConnectorConformance(
  'demo',
  async () => ({
    definition: createDemoConnector(directory),
    config: { name: 'conformance' },
    secrets: { accessKey: 'demo-access-key-s3cret' },
    wrongSecrets: { accessKey: 'not-the-key' },
    hostLabel: 'memory://conformance',
  }),
  {
    async readUser(key) {
      const record = directory.users.get(key);
      return record && { ...record, attributes: { ...record.attributes } };
    },
    async readGroup(key) {
      const g = directory.groups.get(key);
      return g && { scimId: g.scimId, displayName: g.displayName, attributes: g.attributes };
    },
    async readGroupMembers(key) {
      const g = directory.groups.get(key);
      return g && [...g.members];
    },
    async countUsers(userName) {
      return [...directory.users.values()].filter((u) => u.userName.toLowerCase() === userName.toLowerCase()).length;
    },
    async stop() {
      directory.down = true;
    },
    async start() {
      directory.down = false;
    },
    async reset() {
      directory.reset();
    },
  },
);
