// The chats this browser has been shown, kept beside its link at the version
// of the phone's change log they describe: a reload draws them at once and
// asks the phone only for what came after. A chat is a record of its own, so
// applying a change rewrites the chats it touched, not all of them; only the
// tab holding the link writes (writer-guarded-store.ts). Beside them, the
// photos and files still being uploaded, so a reload or a crashed tab
// resumes them.
import type { BlobKind } from "../../shared/protocol";
import type { UploadInProgress } from "../../shared/blob-transfer";
import type { ChatView, Profile, SavedChats } from "./chat-state";
import { linkDatabase } from "./link-store";

const CHAT_PREFIX = "chat:";
const SYNC_KEY = "sync";
const UPLOAD_PREFIX = "upload:";
const UPLOAD_FILE_PREFIX = "upload-file:";

export async function loadChats(): Promise<SavedChats> {
  const sync = await linkDatabase.get<{ version: number; profile: Profile | null }>(SYNC_KEY);
  return { version: sync?.version ?? 0, profile: sync?.profile ?? null, chats: await linkDatabase.getAll<ChatView>(CHAT_PREFIX) };
}

/** The changed chats and the version they are at, in one transaction: never a version without its chats. */
export function saveChats(version: number, profile: Profile | null, changed: ChatView[]): Promise<void> {
  return linkDatabase.putAll([[SYNC_KEY, { version, profile }], ...changed.map((view): [string, ChatView] => [`${CHAT_PREFIX}${view.chat.id}`, view])]);
}

/**
 * A photo or file attached here whose message is not sent yet: the message
 * it belongs to (fixed when it was attached), what the file is, and once the
 * upload started, its blob and secret. The secret sits beside the file
 * itself and the chats, which this store keeps in clear anyway; it goes
 * with the record once the message is sent.
 */
export interface PendingUpload {
  message: { id: string; chatId: string; text: string; at: number };
  kind: BlobKind;
  name: string;
  mime: string;
  size: number;
  thumbnail?: string;
  blob?: UploadInProgress;
}

/** Keeps an upload and a copy of its file, together, before anything is sent. */
export function keepUpload(upload: PendingUpload, file: Blob): Promise<void> {
  return linkDatabase.putAll([
    [`${UPLOAD_PREFIX}${upload.message.id}`, upload],
    [`${UPLOAD_FILE_PREFIX}${upload.message.id}`, file],
  ]);
}

/** Records where the upload stands (its blob), leaving the file as it is. */
export function saveUpload(upload: PendingUpload): Promise<void> {
  return linkDatabase.put(`${UPLOAD_PREFIX}${upload.message.id}`, upload);
}

/** The uploads whose messages were not sent, oldest attachment first. */
export async function loadUploads(): Promise<PendingUpload[]> {
  return (await linkDatabase.getAll<PendingUpload>(UPLOAD_PREFIX)).sort((a, b) => a.message.at - b.message.at);
}

/** The upload as it stands now, or undefined once its message was sent (or the link forgotten). */
export function loadUpload(messageId: string): Promise<PendingUpload | undefined> {
  return linkDatabase.get<PendingUpload>(`${UPLOAD_PREFIX}${messageId}`);
}

export async function loadUploadFile(messageId: string): Promise<Blob | null> {
  return (await linkDatabase.get<Blob>(`${UPLOAD_FILE_PREFIX}${messageId}`)) ?? null;
}

/** The message is sent: its upload and the copy of its file go. */
export function forgetUpload(messageId: string): Promise<void> {
  return linkDatabase.delete(`${UPLOAD_PREFIX}${messageId}`, `${UPLOAD_FILE_PREFIX}${messageId}`);
}
