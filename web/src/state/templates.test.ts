import { describe, expect, it } from 'vitest';
import { builtInValues, fillTemplate, missingVariables, templateQuery, UnfilledVariables, variablesOf, whatsappTemplatePayload } from './templates';

const greeting = 'Hi {{customer_name}}! Thanks for reaching out to {{ company_name }}. I am {{agent_name}}, {{customer_name}}.';

describe('template variable filling', () => {
  it('lists variables once, in order of first use', () => {
    expect(variablesOf(greeting)).toEqual(['customer_name', 'company_name', 'agent_name']);
    expect(variablesOf('Thanks!')).toEqual([]);
  });

  it('fills every occurrence', () => {
    expect(fillTemplate(greeting, { customer_name: 'Ana', company_name: 'Acme', agent_name: 'Sarah' })).toBe(
      'Hi Ana! Thanks for reaching out to Acme. I am Sarah, Ana.',
    );
  });

  it('refuses a template with unfilled or blank variables, naming them', () => {
    expect(missingVariables(greeting, { customer_name: 'Ana', company_name: '  ' })).toEqual(['company_name', 'agent_name']);
    expect(() => fillTemplate(greeting, { customer_name: 'Ana' })).toThrowError(UnfilledVariables);
    try {
      fillTemplate('Your appointment is on {{date}} at {{time}} in {{room}}', { date: '1 May', time: '10:00' });
    } catch (e) {
      expect((e as UnfilledVariables).variables).toEqual(['room']);
      expect((e as Error).message).toBe('Fill in {{room}} first.');
    }
  });

  it('knows the built-ins as the server renders them', () => {
    const v = builtInValues({ customerName: ' Ana ', agentName: 'Sarah', companyName: '', now: new Date('2026-12-06T14:05:00Z'), timeZone: 'UTC' });
    expect(v).toEqual({ customer_name: 'Ana', agent_name: 'Sarah', company_name: '', date: '6 December 2026', time: '14:05' });
    expect(missingVariables('{{company_name}}', v)).toEqual(['company_name']);
  });

  it('reads a template search after "/" and nothing else', () => {
    expect(templateQuery('/')).toBe('');
    expect(templateQuery('/greet')).toBe('greet');
    expect(templateQuery('a /greet')).toBeNull();
    expect(templateQuery('/greet me')).toBeNull();
  });

  it('builds a WhatsApp template with positional parameters', () => {
    expect(whatsappTemplatePayload('order-update', 'en_US', 'Hi {{customer_name}}, order {{order}}', { customer_name: 'Ana', order: '44' })).toEqual({
      name: 'order_update',
      language: 'en_US',
      components: [{ type: 'body', parameters: [{ type: 'text', text: 'Ana' }, { type: 'text', text: '44' }] }],
    });
    expect(() => whatsappTemplatePayload('x', 'en_US', '{{a}}', {})).toThrow(UnfilledVariables);
  });
});
