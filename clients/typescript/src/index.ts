export type { components, operations, paths, webhooks } from './api-types.js';
export {
  type ApiMethod,
  type ApiPath,
  createMailbridgeClient,
  MailbridgeApiError,
  type MailbridgeClient,
  type MailbridgeClientOptions,
  type Operation,
  type PathsFor,
  type RequestOptions,
  type ResponseBody,
  type Schema,
  type SuccessBody,
  type WebhookEvent,
} from './client.js';
export {
  SIGNATURE_HEADER,
  type VerifyWebhookOptions,
  verifyWebhook,
  type WebhookVerification,
} from './verify-webhook.js';
