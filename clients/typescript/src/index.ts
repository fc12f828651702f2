export {
  createMailbridgeClient,
  MailbridgeApiError,
  type MailbridgeClient,
  type MailbridgeClientOptions,
  type RequestOptions,
} from './client.js';
export {
  SIGNATURE_HEADER,
  type VerifyWebhookOptions,
  verifyWebhook,
  type WebhookVerification,
} from './verify-webhook.js';
