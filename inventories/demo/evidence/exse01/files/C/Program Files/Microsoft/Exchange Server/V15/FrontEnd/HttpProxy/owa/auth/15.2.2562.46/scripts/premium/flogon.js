/* Copyright (c) Microsoft Corporation. All rights reserved. */
function gbid(s){return document.getElementById(s);}
function setCookie(n,v){document.cookie=n+"="+v+"; path=/; secure";}
function clkLgn(){var o=gbid("passwordText");if(o&&o.value===""){return false;}setCookie("PrivateComputer","true");document.forms[0].submit();return true;}
function showPasswordClick(){var o=gbid("password");if(o){o.focus();}}
