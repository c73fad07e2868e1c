// The last step of linking, the same after a QR scan and after a code: the
// phone's confirmation verified, so the browser keeps the link with a fresh
// non-extractable device key, asks for its storage to be kept, hands the
// connection to the chat screen, and registers the key (link_ack).
import { generateIdentityKeyPair, type LinkKeys } from "../../shared/crypto";
import type { ServerMessageOf } from "../../shared/protocol";
import { emptyChannelState } from "../../shared/relay-channel";
import type { Connection } from "../connection/connection";
import { $ } from "./dom";
import { saveLink, type StoredLink } from "./link-store";

/** `showChats` opens the chat screen on the connection that linked. */
export async function finishLink(
  linking: Connection,
  sessionId: string,
  message: ServerMessageOf<"linked">,
  keys: LinkKeys,
  showChats: (link: StoredLink, linking: Connection) => Promise<void>,
): Promise<void> {
  $("linked-account").textContent = `Linked to ${message.account.name} (${message.account.number})`;
  document.body.dataset.state = "linked";
  const device = await generateIdentityKeyPair(false);
  const link: StoredLink = {
    sessionId,
    linkId: message.linkId,
    account: message.account,
    deviceKey: device.privateKey,
    keys: { send: keys.browserToPhone, receive: keys.phoneToBrowser },
    channel: emptyChannelState(),
  };
  await saveLink(link);
  // The link, its chats and the photos the server has since deleted live in this browser's storage alone: asked to be kept under disk pressure.
  void navigator.storage?.persist?.().catch(() => false);
  void showChats(link, linking);
  linking.send({ type: "link_ack", devicePublicKey: device.publicKey });
}
