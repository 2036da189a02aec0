import { describe, expect, it } from 'vitest';
import { defaultTemplates, orderNumber, Renderer, TemplateError } from './templates.ts';

describe('templates', () => {
  it('names an order by the start of its id', () => {
    expect(orderNumber('3fa85f64-5717-4562-b3fc-2c963f66afa6')).toBe('3FA85F64');
  });

  it('escapes what a user typed in HTML only, and keeps a subject on one line', () => {
    const rendered = new Renderer().render('WELCOME', { customer: { name: '<i>Ada</i>\r\nBcc: x@y.z', email: 'ada@example.com' } });
    expect(rendered.subject).toBe('Welcome to Shopgraph, <i>Ada</i> Bcc: x@y.z');
    expect(rendered.text).toContain('Hi <i>Ada</i>');
    expect(rendered.html).toContain('Hi &lt;i&gt;Ada&lt;/i&gt;');
  });

  it('refuses to render without a variable a template uses, naming it', () => {
    expect(() => new Renderer().render('ORDER_SHIPPED', { customer: { name: 'Ada', email: 'a@b.c' }, order: { number: 'X', lines: [], total: '$1.00' } })).toThrow(
      /^template ORDER_SHIPPED: "trackingNumber" not defined - \d+:\d+$/,
    );
    expect(() => new Renderer({ ...defaultTemplates, WELCOME: { subject: '{{#if}}', text: '', html: '' } }).render('WELCOME', {})).toThrow(TemplateError);
  });
});
