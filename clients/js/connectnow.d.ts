// Types for the ConnectNow client library (src/connectnow.js and the Node.js entry index.js).
// Server objects (Message, Workspace, ...) are described in docs/PROTOCOL.md; they are typed loosely here.

export type Json = Record<string, any>;

export interface TokenPair {
  accessToken: string;
  refreshToken: string;
  expiresAt: string;
  refreshExpiresAt: string;
  sessionId: string;
  user: { id: string; username: string; displayName: string; [k: string]: any };
}

export type ConnectionState = "connecting" | "connected" | "reconnecting" | "disconnected" | "failed";
export type ConversationKind = "channel" | "dm";
/** Where a message state came from. */
export type MessageSource = "pending" | "failed" | "sent" | "live" | "sync" | "history" | "edit" | "delete" | "pin" | "reaction";

/** A message as kept by a Conversation: the server's Message or Direct message, or a local pending one. */
export interface Message extends Json {
  id: string;
  seq?: number;
  lastEventSeq?: number;
  content: string;
  clientMsgId?: string;
  parentId?: string | null;
  userId?: string;
  senderId?: string;
  /** Local only: sent, not yet acknowledged. */
  pending?: boolean;
  /** Local only: the send failed; `retry(clientMsgId)` sends it again. */
  failed?: ConnectNowError | null;
}

export class ConnectNowError extends Error {
  constructor(code: string, message: string, extra?: { retryable?: boolean; details?: Json; status?: number });
  /** Stable code from docs/ERRORS.md, or NETWORK, TIMEOUT, NOT_CONNECTED locally. */
  code: string;
  retryable: boolean;
  details: Json;
  /** HTTP status for REST errors. */
  status?: number;
  static from(body: Json, status?: number): ConnectNowError;
}

export class Emitter {
  on(event: string, fn: (...args: any[]) => void): () => void;
  off(event: string, fn: (...args: any[]) => void): void;
  once<T = any>(event: string, predicate?: (...args: any[]) => boolean): Promise<T>;
  emit(event: string, ...args: any[]): void;
}

export interface ClientOptions {
  /** Server base URL; defaults to the page's origin in a browser. */
  url?: string;
  /** socket.io-client's `io` (defaults to the global one in a browser). */
  io?: (...args: any[]) => any;
  /** A TokenPair from an earlier sign-in. */
  tokens?: TokenPair | null;
  ackTimeoutMs?: number;
  /** How long a hole in eventSeq may stay open before a sync (default 1500 ms). */
  holeWaitMs?: number;
  socketOptions?: Json;
}

export class ConnectNowClient extends Emitter {
  constructor(options?: ClientOptions);
  url: string;
  tokens: TokenPair | null;
  state: ConnectionState;
  /** The underlying socket.io-client Socket once connected. */
  socket: any;
  conversations: Map<string, Conversation>;
  /** userId -> Presence `{userId, status, statusText?, lastActiveAt?}` */
  presence: Map<string, Json>;
  typing: TypingHelper;
  lastError?: ConnectNowError;
  readonly user: TokenPair["user"] | null;

  rest<T = any>(method: string, path: string, body?: unknown, options?: { auth?: boolean }): Promise<T>;
  register(input: { email: string; username: string; displayName?: string; password: string }): Promise<TokenPair>;
  login(login: string, password: string): Promise<TokenPair>;
  logout(): Promise<void>;
  tokenIsStale(): boolean;
  accessToken(): Promise<string>;
  refresh(): Promise<TokenPair>;
  connect(): Promise<void>;
  disconnect(): void;
  call<T = any>(event: string, payload?: unknown): Promise<T>;
  conversation(kind: ConversationKind, id: string): Conversation;
  channel(channelId: string): Conversation;
  dm(conversationId: string): Conversation;
  forget(kind: ConversationKind, id: string): void;
  syncAll(): Promise<void>;
  queryPresence(userIds: string[]): Promise<Json[]>;
  setPresence(status: "ONLINE" | "AWAY" | "BUSY", statusText?: string): Promise<Json>;
  upload(file: Blob, options?: { onProgress?: (fraction: number) => void; fileName?: string }): Promise<Json>;

  on(event: "state", fn: (state: ConnectionState) => void): () => void;
  on(event: "tokens", fn: (tokens: TokenPair) => void): () => void;
  on(event: "signedout", fn: (reason: string) => void): () => void;
  on(event: "error", fn: (error: ConnectNowError) => void): () => void;
  on(event: "synced", fn: (info: { reconnect: boolean }) => void): () => void;
  on(event: string, fn: (data: any) => void): () => void;
}

export class Conversation extends Emitter {
  client: ConnectNowClient;
  kind: ConversationKind;
  id: string;
  messages: Map<string, Message>;
  /** Highest contiguous eventSeq processed (null before the first history load). */
  lastEventSeq: number | null;
  ahead: Set<number>;
  reachedStart: boolean;
  typers: Map<string, string>;

  list(filter?: (m: Message) => boolean): Message[];
  loadLatest(limit?: number): Promise<Message[]>;
  loadOlder(limit?: number): Promise<Message[]>;
  send(content: string, options?: { parentId?: string; attachmentIds?: string[]; type?: string; clientMsgId?: string }): Promise<Message>;
  retry(clientMsgId: string): Promise<Message>;
  edit(messageId: string, content: string): Promise<Message>;
  delete(messageId: string): Promise<Message>;
  markRead(messageId?: string): Promise<Json | null>;
  react(messageId: string, emoji: string, on?: boolean): Promise<Json[]>;
  pin(messageId: string, on?: boolean): Promise<Message>;
  pins(): Promise<Message[]>;
  thread(rootId: string, limit?: number): Promise<Message[]>;
  startTyping(): Promise<Json | null>;
  stopTyping(): Promise<Json | null>;
  sync(): Promise<void>;

  on(event: "message", fn: (message: Message, source: MessageSource, replacedId?: string) => void): () => void;
  on(event: "reload", fn: (info: { gap: { fromEventSeq: number; toEventSeq: number } }) => void): () => void;
  on(event: "lost", fn: (error: ConnectNowError) => void): () => void;
  on(event: "typing", fn: (typers: Map<string, string>) => void): () => void;
  on(event: "read", fn: (receipt: Json) => void): () => void;
  on(event: "event", fn: (name: string, data: Json) => void): () => void;
  on(event: string, fn: (...args: any[]) => void): () => void;
}

export class TypingHelper {
  start(target: { channelId: string } | { conversationId: string }): Promise<Json | null>;
  stop(target: { channelId: string } | { conversationId: string }): Promise<Json | null>;
}

export function newClientMsgId(prefix?: string): string;
/** Node.js entry only: a client with socket.io-client wired in. */
export function createClient(url: string, options?: ClientOptions): ConnectNowClient;
