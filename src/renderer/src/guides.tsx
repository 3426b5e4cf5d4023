/**
 * The setup guides, step by step as in docs/idp/*.md, with this gateway's base URL and the
 * admin's fresh token put where the IdP's fields want them.
 */
import type { ComponentChildren } from 'preact';

export interface GuideValues {
  url: string;
  /** The token, or a placeholder naming where to find it. */
  token: string;
}

export interface Guide {
  id: string;
  name: string;
  tokenName: string;
  summary: string;
  /** What to check before starting. */
  before?: ComponentChildren;
  steps: (v: GuideValues) => Array<{ title: string; body: ComponentChildren }>;
  /** How to see it worked on the IdP's side. */
  verify: ComponentChildren;
  docs: string;
}

function V(props: { children: ComponentChildren }) {
  return <code class="value">{props.children}</code>;
}

const UI = (props: { children: ComponentChildren }) => <strong class="ui-label">{props.children}</strong>;

export const GUIDES: Guide[] = [
  {
    id: 'okta',
    name: 'Okta',
    tokenName: 'Okta',
    summary: 'Okta pushes users (create, update, deactivate) and, with Push Groups, groups and their members.',
    steps: ({ url, token }) => [
      {
        title: 'Add the SCIM app',
        body: (
          <ol>
            <li>
              In the Okta Admin Console: <UI>Applications › Applications › Browse App Catalog</UI>.
            </li>
            <li>
              Search for <UI>SCIM 2.0 Test App (Header Auth)</UI>, click <UI>Add Integration</UI>, name it (e.g. <V>SCIM Bridge</V>), choose any sign-on option and click <UI>Done</UI>.
            </li>
            <li>
              For a long-lived setup you may instead create your own SAML app (<UI>Create App Integration</UI>) and set <UI>Provisioning</UI> to <UI>SCIM</UI> on its General tab.
            </li>
          </ol>
        ),
      },
      {
        title: 'Enter the URL and token',
        body: (
          <ol>
            <li>
              <UI>Provisioning › Configure API Integration</UI>, tick <UI>Enable API integration</UI>.
            </li>
            <li>
              <UI>Base URL</UI>: <V>{url}</V>
            </li>
            <li>
              <UI>API Token</UI>: <V>Bearer {token}</V> — the word Bearer, one space, then the token (this app sends the field as the Authorization header). With your own app integration, choose <UI>HTTP Header</UI> and paste the token alone.
            </li>
            <li>
              Click <UI>Test API Credentials</UI>, then <UI>Save</UI>.
            </li>
          </ol>
        ),
      },
      {
        title: 'Choose what Okta sends',
        body: (
          <ol>
            <li>
              <UI>Provisioning › To App › Edit</UI>: enable <UI>Create Users</UI>, <UI>Update User Attributes</UI> and <UI>Deactivate Users</UI>. Leave <UI>Sync Password</UI> off.
            </li>
            <li>
              <UI>Assignments › Assign</UI> people or groups. For groups, use <UI>Push Groups</UI> with a different group than the one used for assignment.
            </li>
          </ol>
        ),
      },
    ],
    verify: (
      <>
        <UI>Test API Credentials</UI> says the integration was verified. Assigned users appear under Users and groups within seconds.
      </>
    ),
    docs: 'docs/idp/okta.md',
  },
  {
    id: 'entra-id',
    name: 'Microsoft Entra ID',
    tokenName: 'Entra provisioning',
    summary: 'Entra ID provisions assigned users and groups through a non-gallery enterprise application, every 40 minutes or on demand.',
    before: <>Do not give this token an expiry: when it expires, Entra puts the provisioning job in quarantine. Rotate it instead.</>,
    steps: ({ url, token }) => [
      {
        title: 'Create the enterprise application',
        body: (
          <ol>
            <li>
              In the Microsoft Entra admin center: <UI>Enterprise apps › New application › Create your own application</UI>.
            </li>
            <li>
              Name it (e.g. <V>SCIM Bridge</V>), choose <UI>Integrate any other application you don't find in the gallery (Non-gallery)</UI>, click <UI>Create</UI>.
            </li>
          </ol>
        ),
      },
      {
        title: 'Enter the URL and token',
        body: (
          <ol>
            <li>
              Open <UI>Provisioning</UI> and click <UI>New configuration</UI> (older portal: <UI>Get started</UI>, mode <UI>Automatic</UI>, <UI>Admin Credentials</UI>).
            </li>
            <li>
              <UI>Tenant URL</UI>: <V>{url}</V>
            </li>
            <li>
              <UI>Secret Token</UI>: <V>{token}</V> — the token alone, without Bearer.
            </li>
            <li>
              Click <UI>Test Connection</UI>, then <UI>Create</UI> (or <UI>Save</UI>).
            </li>
          </ol>
        ),
      },
      {
        title: 'Scope and start',
        body: (
          <ol>
            <li>
              Review <UI>Attribute mapping</UI>: keep <V>userName</V> as the matching attribute.
            </li>
            <li>
              <UI>Settings › Scope</UI>: <UI>Sync only assigned users and groups</UI>. Add a notification email.
            </li>
            <li>
              <UI>Users and groups › Add user/group</UI>, then <UI>Start provisioning</UI>. <UI>Provision on demand</UI> pushes one user at once.
            </li>
          </ol>
        ),
      },
    ],
    verify: (
      <>
        <UI>Test Connection</UI> succeeds (Entra looks up a random user and expects none). <UI>Provisioning logs</UI> show each request and any error the gateway returned.
      </>
    ),
    docs: 'docs/idp/entra-id.md',
  },
  {
    id: 'google-workspace',
    name: 'Google Workspace',
    tokenName: 'Google Workspace',
    summary: 'Google pushes users (create, update, suspend, delete) to a custom SAML app, where the Admin console offers auto-provisioning for it.',
    before: (
      <>
        Check first: open your custom SAML app in the Admin console. If it has no <strong>Auto-provisioning</strong> section, Google cannot push users to a custom app; provision from Okta or Entra ID instead.
      </>
    ),
    steps: ({ url, token }) => [
      {
        title: 'Open the SAML app',
        body: (
          <ol>
            <li>
              <UI>Apps › Web and mobile apps</UI>; add one with <UI>Add app › Add custom SAML app</UI> if needed.
            </li>
            <li>
              In the app's <UI>Auto-provisioning</UI> section, click <UI>Configure auto-provisioning</UI>.
            </li>
          </ol>
        ),
      },
      {
        title: 'Enter the token and URL',
        body: (
          <ol>
            <li>
              <UI>Access token</UI>: <V>{token}</V>
            </li>
            <li>
              <UI>Endpoint URL</UI>: <V>{url}</V>
            </li>
            <li>
              Map at least <V>userName</V> (usually the primary email), pick the provisioning scope (groups), and choose what suspension and deletion do.
            </li>
            <li>
              Click <UI>Finish</UI>, then switch <UI>Auto-provisioning</UI> on, and turn the app on for the users concerned.
            </li>
          </ol>
        ),
      },
    ],
    verify: <>Saving the endpoint makes Google call it; an error then means a wrong URL or token or an unreachable host. Google provisions on its own schedule: changes can take hours.</>,
    docs: 'docs/idp/google-workspace.md',
  },
  {
    id: 'onelogin',
    name: 'OneLogin',
    tokenName: 'OneLogin',
    summary: 'OneLogin provisions users, and optionally groups, with its SCIM Provisioner with SAML (SCIM v2 Enterprise) connector.',
    steps: ({ url, token }) => [
      {
        title: 'Add the app',
        body: (
          <ol>
            <li>
              <UI>Applications › Applications › Add App</UI>, search for <V>SCIM</V> and pick <UI>SCIM Provisioner with SAML (SCIM v2 Enterprise)</UI> — a v2 connector: the Core Schema ones send SCIM 1.1, which the gateway refuses.
            </li>
          </ol>
        ),
      },
      {
        title: 'Enter the URL and token',
        body: (
          <ol>
            <li>
              <UI>Configuration</UI> tab: <UI>SCIM Base URL</UI>: <V>{url}</V>
            </li>
            <li>
              <UI>SCIM Bearer Token</UI>: <V>{token}</V> — the token alone.
            </li>
            <li>
              <UI>API Connection</UI>: click <UI>Enable</UI>, then <UI>Save</UI>.
            </li>
          </ol>
        ),
      },
      {
        title: 'Provisioning',
        body: (
          <ol>
            <li>
              <UI>Parameters</UI>: map <UI>SCIM Username</UI> to a unique value, usually Email.
            </li>
            <li>
              <UI>Provisioning</UI>: tick <UI>Enable provisioning</UI>; untick admin approval unless you want to approve each change; choose <UI>Suspend</UI> for deleted or suspended users.
            </li>
            <li>Give users the app through a role or per user.</li>
          </ol>
        ),
      },
    ],
    verify: <>Enabling the API connection shows it as enabled; a failure shows an error next to the field. Progress is under Users › Provisioning.</>,
    docs: 'docs/idp/onelogin.md',
  },
  {
    id: 'jumpcloud',
    name: 'JumpCloud',
    tokenName: 'JumpCloud',
    summary: "JumpCloud provisions users and, optionally, groups through a custom application's Identity Management tab.",
    before: <>Have the email of a test user that is not yet provisioned: JumpCloud creates and deletes it to test the connection.</>,
    steps: ({ url, token }) => [
      {
        title: 'Add the application',
        body: (
          <ol>
            <li>
              <UI>SSO Applications › Add New Application › Custom Application</UI>; select <UI>Export users to this app (Identity Management)</UI>. Save, then <UI>Configure Application</UI>.
            </li>
          </ol>
        ),
      },
      {
        title: 'Enter the URL and token',
        body: (
          <ol>
            <li>
              <UI>Identity Management</UI>: <UI>API Type</UI> SCIM API, <UI>SCIM Version</UI> SCIM 2.0.
            </li>
            <li>
              <UI>Base URL</UI>: <V>{url}</V>
            </li>
            <li>
              <UI>Token Key</UI>: <V>{token}</V> (also in the <UI>Authorization: Bearer</UI> header field if shown).
            </li>
            <li>
              <UI>Test User Email</UI>: your test address. Tick group management if JumpCloud should send groups.
            </li>
            <li>
              <UI>Test Connection</UI>, then <UI>Activate</UI> and <UI>Save</UI>.
            </li>
          </ol>
        ),
      },
      {
        title: 'Bind user groups',
        body: (
          <ol>
            <li>
              On the app's <UI>User Groups</UI> tab, tick the groups whose members to provision, and <UI>Save</UI>.
            </li>
          </ol>
        ),
      },
    ],
    verify: <>Test Connection succeeds after creating and deleting the test user. A 409 means the test user already exists in this connection: pick another address.</>,
    docs: 'docs/idp/jumpcloud.md',
  },
];
