// Node.js (and bundler) entry: the library with socket.io-client's `io` wired in.
import { io } from "socket.io-client";
import { ConnectNowClient } from "./src/connectnow.js";

export { ConnectNowClient, ConnectNowError, Conversation, Emitter, TypingHelper, newClientMsgId } from "./src/connectnow.js";

/**
 * Create a client for a ConnectNow server.
 * @param {string} url server base URL, e.g. "http://127.0.0.1:8000"
 * @param {object} [options] see ConnectNowClient
 * @returns {ConnectNowClient}
 */
export function createClient(url, options = {}) {
  return new ConnectNowClient({ io, ...options, url });
}
