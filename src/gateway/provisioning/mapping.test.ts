import { describe, expect, it } from 'vitest';
import { createSchemaRegistry, ENTERPRISE_USER_SCHEMA } from '../scim/index.js';
import { compileRule } from './connectors.js';

const resolver = createSchemaRegistry().resolver('User');
const ada = {
  userName: 'Ada.Lovelace@Example.com',
  name: { givenName: 'Ada', familyName: 'Lovelace' },
  emails: [
    { value: 'ada@home.example', type: 'home' },
    { value: 'ada@example.com', type: 'work', primary: true },
  ],
  [ENTERPRISE_USER_SCHEMA]: { department: 'Analytical Engines', manager: { value: 'm-1' } },
};
const read = (rule: Parameters<typeof compileRule>[0]) => compileRule(rule, resolver, 'target')(ada);

describe('attribute mapping rules', () => {
  it('reads paths, value paths, extension attributes and sub-attributes', () => {
    expect(read('name.familyName')).toBe('Lovelace');
    expect(read('emails[type eq "home"].value')).toBe('ada@home.example');
    expect(read('emails')).toBe('ada@example.com'); // the primary element of a multi-valued attribute
    expect(read(`${ENTERPRISE_USER_SCHEMA}:department`)).toBe('Analytical Engines');
    expect(read(`${ENTERPRISE_USER_SCHEMA}:manager.value`)).toBe('m-1');
  });

  it('applies constants, defaults and transforms', () => {
    expect(read({ const: 'scim-bridge' })).toBe('scim-bridge');
    expect(read({ path: 'userName', transform: 'lowercase' })).toBe('ada.lovelace@example.com');
    expect(read({ path: 'title', default: 'Staff' })).toBe('Staff');
  });

  it('concatenates paths with a separator, skipping missing parts', () => {
    expect(read({ concat: ['name.givenName', 'name.familyName'] })).toBe('Ada Lovelace');
    expect(read({ concat: ['name.givenName', 'name.middleName', 'name.familyName'], separator: '.', transform: 'lowercase' })).toBe('ada.lovelace');
    expect(read({ concat: ['title', 'nickName'], default: 'n/a' })).toBe('n/a');
  });

  it('names the rule and the path when a path does not exist', () => {
    expect(() => compileRule('name.nickname.x', resolver, 'cn')).toThrow(/mapping for "cn"/);
    expect(() => compileRule({ concat: ['name.givenName', 'nosuch'] }, resolver, 'cn')).toThrow(/mapping for "cn.concat\[1\]": no SCIM attribute "nosuch"/);
  });
});
