// What the model refuses: states this host cannot carry out, and names and
// addresses that would not be safe to put into an nft script.

export class ModelError extends Error {
  override name = 'ModelError';
}

export function checkInterface(name: string): string {
  if (!/^[A-Za-z0-9][A-Za-z0-9_.-]{0,14}$/.test(name)) throw new ModelError(`invalid interface name ${JSON.stringify(name)}`);
  return name;
}

export function checkMac(mac: string): string {
  if (!/^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/i.test(mac)) throw new ModelError(`invalid MAC address ${JSON.stringify(mac)}`);
  return mac.toLowerCase();
}
