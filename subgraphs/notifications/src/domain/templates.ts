import Handlebars from 'handlebars';
import type { NotificationKind } from '../entities/index.ts';

/** A notification's template: the e-mail's subject, plain-text and HTML bodies (Handlebars). */
export interface Template {
  subject: string;
  text: string;
  html: string;
}

export type Templates = Record<NotificationKind, Template>;

/** What a template may use; each kind gets the parts it is about. */
export interface TemplateVariables {
  customer?: { name: string; email: string };
  order?: { number: string; lines: { name: string; quantity: number; unitPrice: string; lineTotal: string }[]; total: string };
  product?: { name: string; sku: string };
  [fact: string]: unknown;
}

export interface Rendered {
  subject: string;
  text: string;
  html: string;
}

/** A template that cannot be rendered with what the notification knows (a variable it lacks, a syntax error): no retry helps. */
export class TemplateError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'TemplateError';
  }
}

const ORDER_LINES_TEXT = `{{#each order.lines}}  {{quantity}} × {{name}} at {{unitPrice}}: {{lineTotal}}
{{/each}}  Total: {{order.total}}`;
const ORDER_LINES_HTML = `<table cellpadding="4" style="border-collapse:collapse">
<tr><th align="left">Product</th><th align="right">Quantity</th><th align="right">Price</th><th align="right">Amount</th></tr>
{{#each order.lines}}<tr><td>{{name}}</td><td align="right">{{quantity}}</td><td align="right">{{unitPrice}}</td><td align="right">{{lineTotal}}</td></tr>
{{/each}}<tr><td colspan="3"><strong>Total</strong></td><td align="right"><strong>{{order.total}}</strong></td></tr>
</table>`;

/** The templates of every kind. Text and subjects are not escaped; HTML is, so nothing a user typed can become markup. */
export const defaultTemplates: Templates = {
  WELCOME: {
    subject: 'Welcome to Shopgraph, {{customer.name}}',
    text: 'Hi {{customer.name}},\n\nyour Shopgraph account ({{customer.email}}) is ready. Happy shopping!\n',
    html: '<p>Hi {{customer.name}},</p><p>your Shopgraph account (<strong>{{customer.email}}</strong>) is ready. Happy shopping!</p>',
  },
  ORDER_CONFIRMED: {
    subject: 'Order {{order.number}} confirmed',
    text: `Hi {{customer.name}},\n\nthank you for your order {{order.number}}. It is paid and will be shipped soon.\n\n${ORDER_LINES_TEXT}\n`,
    html: `<p>Hi {{customer.name}},</p><p>thank you for your order <strong>{{order.number}}</strong>. It is paid and will be shipped soon.</p>${ORDER_LINES_HTML}`,
  },
  PAYMENT_FAILED: {
    subject: 'Payment for order {{order.number}} failed',
    text: 'Hi {{customer.name}},\n\nwe could not charge your payment method for order {{order.number}} ({{order.total}}): {{reason}}.\nThe order was not placed; your cart still holds its products.\n',
    html: '<p>Hi {{customer.name}},</p><p>we could not charge your payment method for order <strong>{{order.number}}</strong> ({{order.total}}): {{reason}}.</p><p>The order was not placed; your cart still holds its products.</p>',
  },
  ORDER_UNDER_REVIEW: {
    subject: 'Order {{order.number}} is being reviewed',
    text: 'Hi {{customer.name}},\n\nyour order {{order.number}} ({{order.total}}) is held for a payment review before we charge anything. We will let you know the outcome.\n',
    html: '<p>Hi {{customer.name}},</p><p>your order <strong>{{order.number}}</strong> ({{order.total}}) is held for a payment review before we charge anything. We will let you know the outcome.</p>',
  },
  ORDER_REJECTED: {
    subject: 'Order {{order.number}} was not accepted',
    text: 'Hi {{customer.name}},\n\nafter a payment review we could not accept your order {{order.number}} ({{order.total}}). Nothing was charged; your cart still holds its products.\n',
    html: '<p>Hi {{customer.name}},</p><p>after a payment review we could not accept your order <strong>{{order.number}}</strong> ({{order.total}}). Nothing was charged; your cart still holds its products.</p>',
  },
  ORDER_CANCELLED: {
    subject: 'Order {{order.number}} cancelled',
    text: 'Hi {{customer.name}},\n\nyour order {{order.number}} was cancelled: {{reason}}.\nAnything charged is refunded.\n',
    html: '<p>Hi {{customer.name}},</p><p>your order <strong>{{order.number}}</strong> was cancelled: {{reason}}.</p><p>Anything charged is refunded.</p>',
  },
  ORDER_SHIPPED: {
    subject: 'Order {{order.number}} is on its way',
    text: 'Hi {{customer.name}},\n\nyour order {{order.number}} has shipped. Tracking number: {{trackingNumber}}\n',
    html: '<p>Hi {{customer.name}},</p><p>your order <strong>{{order.number}}</strong> has shipped. Tracking number: <strong>{{trackingNumber}}</strong></p>',
  },
  ORDER_DELIVERED: {
    subject: 'Order {{order.number}} delivered',
    text: 'Hi {{customer.name}},\n\nyour order {{order.number}} (tracking number {{trackingNumber}}) was delivered. Enjoy!\n',
    html: '<p>Hi {{customer.name}},</p><p>your order <strong>{{order.number}}</strong> (tracking number {{trackingNumber}}) was delivered. Enjoy!</p>',
  },
  LOW_STOCK: {
    subject: 'Low stock: {{product.name}} ({{availableQuantity}} left)',
    text: '{{product.name}} (SKU {{product.sku}}) is down to {{availableQuantity}} available, under its threshold of {{threshold}}.\n',
    html: '<p><strong>{{product.name}}</strong> (SKU {{product.sku}}) is down to <strong>{{availableQuantity}}</strong> available, under its threshold of {{threshold}}.</p>',
  },
};

type Compiled = { subject: HandlebarsTemplateDelegate; text: HandlebarsTemplateDelegate; html: HandlebarsTemplateDelegate };

/**
 * Renders templates strictly: a variable the template uses and the notification lacks is an
 * error (a TemplateError naming it), never an empty gap in an e-mail.
 */
export class Renderer {
  private readonly compiled = new Map<NotificationKind, Compiled>();
  private readonly templates: Templates;
  private readonly handlebars = Handlebars.create();

  constructor(templates: Templates = defaultTemplates) {
    this.templates = templates;
  }

  render(kind: NotificationKind, variables: TemplateVariables): Rendered {
    try {
      const template = this.compile(kind);
      return {
        // A header: one line, whatever a name held.
        subject: template.subject(variables).replace(/\s+/g, ' ').trim(),
        text: template.text(variables),
        html: template.html(variables),
      };
    } catch (error) {
      throw new TemplateError(`template ${kind}: ${error instanceof Error ? error.message.replace(/ in .* - (\d+:\d+)$/, ' - $1') : String(error)}`);
    }
  }

  private compile(kind: NotificationKind): Compiled {
    let compiled = this.compiled.get(kind);
    if (!compiled) {
      const { subject, text, html } = this.templates[kind];
      const strict = { strict: true };
      compiled = {
        subject: this.handlebars.compile(subject, { ...strict, noEscape: true }),
        text: this.handlebars.compile(text, { ...strict, noEscape: true }),
        html: this.handlebars.compile(html, strict),
      };
      this.compiled.set(kind, compiled);
    }
    return compiled;
  }
}

/** How e-mails name an order: the first 8 characters of its id, in capitals. */
export const orderNumber = (orderId: string): string => orderId.slice(0, 8).toUpperCase();
